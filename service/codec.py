"""A session as bytes, for a shared session store: compact JSON with a format number, no pickle
(a store shared by replicas must not run code it reads back). A policy's per-session state is
saved by the names it declares in `session_state`; the video as its ladder and chunk length,
with the size table only when the session uploaded one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from abr.media.video import Video, make_video
from abr.policies.base import Policy
from service.sessions import PlayerSession

SESSION_FORMAT = 1

NominalVideo = Callable[[tuple[float, ...], float, int], Video]
NewPolicy = Callable[[str, Video], Policy]


class SessionFormatError(ValueError):
    """Stored bytes that are not a session this version can read."""


def encode_session(session: PlayerSession) -> bytes:
    video = session.video
    own_table = video.sizes_bytes.base is None  # uploaded by this session (not a shared view)
    record: dict[str, Any] = {
        "v": SESSION_FORMAT,
        "id": session.session_id,
        "policy": session.policy_name,
        "qoe": session.qoe_name,
        "ladder": video.bitrates_kbps.tolist(),
        "chunk_s": video.chunk_s,
        "n_chunks": video.n_chunks,
        "sizes": video.sizes_bytes.tolist() if own_table else None,
        "next": session.next_index,
        "last_level": session.last_level,
        "buffer_s": session.buffer_s,
        "tput": session.throughput_kbps,
        "dl": session.download_s,
        "hist": session.history_count,
        "levels": session.levels,
        "rebuf": session.rebuffer_s,
        "fallbacks": session.fallbacks,
        "state": _policy_state(session.policy),
        "fallback_state": _policy_state(session.fallback_policy),
        "last_report": session.last_report,
        "last_answer": session.last_answer,
        "reported_at_s": session.reported_at_s,
    }
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)


def decode_session(
    data: bytes, nominal: NominalVideo, new_policy: NewPolicy, fallback_name: str
) -> PlayerSession:
    try:
        record = orjson.loads(data)
        if record.get("v") != SESSION_FORMAT:
            raise SessionFormatError(
                f"session format {record.get('v')!r}; this version reads {SESSION_FORMAT}"
            )
        return _session(record, nominal, new_policy, fallback_name)
    except SessionFormatError:
        raise
    except Exception as exc:  # bytes from outside this process: whatever is wrong with them
        raise SessionFormatError(
            f"unreadable session record ({type(exc).__name__}: {exc})"
        ) from None


def _session(
    record: dict[str, Any], nominal: NominalVideo, new_policy: NewPolicy, fallback_name: str
) -> PlayerSession:
    key = (tuple(record["ladder"]), float(record["chunk_s"]), int(record["n_chunks"]))
    sizes = record["sizes"]
    video = nominal(*key) if sizes is None else make_video(key[0], key[1], sizes, "session")
    name = record["policy"]
    policy = None if name == "dqn" else _restored(new_policy(name, video), record["state"])
    fallback = (
        _restored(new_policy(fallback_name, video), record["fallback_state"])
        if record["fallback_state"] is not None
        else None
    )
    report = record["last_report"]
    return PlayerSession(
        session_id=record["id"],
        policy_name=name,
        qoe_name=record["qoe"],
        video=video,
        policy=policy,
        next_index=int(record["next"]),
        last_level=int(record["last_level"]),
        buffer_s=float(record["buffer_s"]),
        throughput_kbps=np.array(record["tput"], dtype=np.float64),
        download_s=np.array(record["dl"], dtype=np.float64),
        history_count=int(record["hist"]),
        levels=list(record["levels"]),
        rebuffer_s=list(record["rebuf"]),
        fallbacks=int(record["fallbacks"]),
        fallback_policy=fallback,
        last_report=tuple(report) if report is not None else None,
        last_answer=record["last_answer"],
        reported_at_s=record["reported_at_s"],
    )


def _policy_state(policy: Policy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    names: tuple[str, ...] = getattr(policy, "session_state", ())
    return {name: np.asarray(getattr(policy, name)).tolist() for name in names}


def _restored(policy: Policy, state: dict[str, Any] | None) -> Policy:
    for name, value in (state or {}).items():
        kept = getattr(policy, name)  # the dtype and shape reset() gave it
        setattr(policy, name, np.array(value, dtype=kept.dtype).reshape(kept.shape))
    return policy
