"""A session as bytes: everything a decision depends on survives the round trip."""

from __future__ import annotations

import asyncio
import json

import pytest

from service.codec import SessionFormatError, encode_session
from service.engine import Engine
from service.schemas import VideoSpec
from service.settings import ServiceSettings
from tests.service.conftest import VIDEO


@pytest.mark.parametrize("policy", ["mpc", "dynamic", "bola", "dqn"])
def test_a_decoded_session_decides_as_the_original(policy: str) -> None:
    engine = Engine(ServiceSettings())
    reports = [
        (i, i % 3, 6e5 + 1e5 * i, 0.4 + 0.3 * (i % 4), 4.0 + i, 0.1 * (i == 2)) for i in range(12)
    ]

    async def run() -> None:
        session, _ = engine.new_session(VideoSpec(**VIDEO), policy, "lin")
        for report in reports[:6]:
            await engine.apply_report(session, report)
        session.last_answer = {"level": 1}
        copy = engine.session_from_bytes(encode_session(session))
        assert copy.last_report == session.last_report and copy.last_answer == {"level": 1}
        for report in reports[6:]:  # the two go on in step: same state, same decisions
            mine = await engine.apply_report(session, report)
            theirs = await engine.apply_report(copy, report)
            assert mine is not None and theirs is not None
            assert mine.levels.tolist() == theirs.levels.tolist()
        assert copy.summary() == session.summary()

    asyncio.run(run())


def test_an_uploaded_size_table_is_kept_and_a_nominal_video_is_shared() -> None:
    engine = Engine(ServiceSettings())
    sizes = [[1e5 * (level + 1) + chunk for chunk in range(48)] for level in range(6)]
    uploaded, _ = engine.new_session(VideoSpec(**VIDEO, chunk_sizes_bytes=sizes), "bb", "lin")
    copy = engine.session_from_bytes(encode_session(uploaded))
    assert copy.video.sizes_bytes.tolist() == sizes
    nominal, _ = engine.new_session(VideoSpec(**VIDEO), "bb", "lin")
    first = engine.session_from_bytes(encode_session(nominal))
    second = engine.session_from_bytes(encode_session(nominal))
    assert first.video is second.video  # one video object: their decisions batch together


def test_unreadable_or_newer_records_are_refused_by_name() -> None:
    engine = Engine(ServiceSettings())
    session, _ = engine.new_session(VideoSpec(**VIDEO), "bb", "lin")
    record = json.loads(encode_session(session))
    with pytest.raises(SessionFormatError, match="session format 2"):
        engine.session_from_bytes(json.dumps({**record, "v": 2}).encode())
    with pytest.raises(SessionFormatError, match="unreadable"):
        engine.session_from_bytes(b"\x80pickle?")
    del record["levels"]
    with pytest.raises(SessionFormatError, match="levels"):
        engine.session_from_bytes(json.dumps(record).encode())
