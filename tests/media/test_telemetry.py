"""Traces from telemetry: downloads at their delivered rate, idle gaps at their neighbours' mean,
malformed lines named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abr.media.telemetry import Report, read_telemetry, rebuild_trace, traces_from_telemetry
from abr.media.traces import TraceError


def _line(session: str, chunk: int, size: float, download: float, gap: float | None) -> str:
    record = {"session": session, "chunk": chunk, "size_bytes": size, "download_s": download}
    return json.dumps({**record, "gap_s": gap, "level": 1, "buffer_s": 4.0}) + "\n"


def test_a_trace_is_rebuilt_from_downloads_and_gaps() -> None:
    reports = [Report(0, 1e6, 1.08, None), Report(1, 5e5, 2.08, 3.08)]  # 1 s idle before chunk 1
    trace = rebuild_trace("s", reports, rtt_s=0.08, payload_fraction=0.5)
    # 8 Mbit in 1 s, then 1 s idle, then 4 Mbit in 2 s; payload is half the bandwidth
    assert trace.time_s.tolist() == pytest.approx([0.0, 1.0, 2.0, 4.0])
    assert trace.mbps.tolist() == pytest.approx([16.0, 16.0, 10.0, 4.0])
    downloads = rebuild_trace("s", reports, rtt_s=0.08, payload_fraction=0.5, fill_gaps=False)
    assert downloads.time_s.tolist() == pytest.approx([0.0, 1.0, 3.0])


def test_sessions_are_read_in_chunk_order_once_each(tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    lines = [
        _line("a", 1, 2e5, 0.5, 0.6),
        _line("a", 0, 1e5, 0.5, None),
        _line("a", 1, 2e5, 0.5, 0.6),
    ]
    log.write_text("".join(lines) + _line("b", 0, 1e5, 0.5, None))
    sessions = read_telemetry(log)
    assert [r.chunk for r in sessions["a"]] == [0, 1] and len(sessions["b"]) == 1
    assert [t.name for t in traces_from_telemetry(log, 0.08, 0.95, min_chunks=2)] == ["telemetry_a"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"session": "a", "chunk": 0}\n', "missing size_bytes"),
        ("not json\n", "not a telemetry record"),
        ('{"session": "a", "chunk": "x", "size_bytes": 1, "download_s": 1, "gap_s": null}\n', "x"),
    ],
)
def test_a_malformed_line_is_named(tmp_path: Path, line: str, reason: str) -> None:
    log = tmp_path / "t.jsonl"
    log.write_text(_line("a", 0, 1e5, 0.5, None) + line)
    with pytest.raises(TraceError, match=f"t.jsonl:2: .*{reason}"):
        read_telemetry(log)


def test_rebuilt_traces_play_in_the_simulator(tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    log.write_text("".join(_line("a", k, 4e5, 0.5 + 0.1 * k, 4.0) for k in range(6)))
    (trace,) = traces_from_telemetry(log, 0.08, 0.95)
    assert np.all(np.diff(trace.time_s) > 0) and trace.duration_s > 0
