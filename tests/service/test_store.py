"""The in-process session store: bounded by count, idle time and uploaded size tables."""

import numpy as np

from abr.media.video import make_video, nominal_video
from service.sessions import PlayerSession
from service.store import MemoryStore

LADDER = [300.0, 750.0]


def _session(name: str, own_table_chunks: int = 0) -> PlayerSession:
    if own_table_chunks:
        video = make_video(LADDER, 4.0, np.full((2, own_table_chunks), 1e5), "own")
    else:
        video = nominal_video(LADDER, 4.0, 100_000)
    return PlayerSession(name, "bb", "lin", video, None)


def test_uploaded_size_tables_are_bounded_in_bytes() -> None:
    table_bytes = 2 * 1000 * 8  # one session's [2 levels][1000 chunks] float64 table
    store = MemoryStore(100, 60.0, clock=lambda: 0.0, max_table_bytes=3 * table_bytes)
    for i in range(5):
        store.put(_session(f"s{i}", own_table_chunks=1000))
    assert store.table_bytes == 3 * table_bytes and len(store) == 3
    assert store.get("s0") is None and store.get("s4") is not None  # least recently used out
    assert store.evicted == 2
    store.put(_session("nominal"))  # a shared nominal video costs no table bytes
    assert store.table_bytes == 3 * table_bytes and len(store) == 4
    store.pop("s4")
    assert store.table_bytes == 2 * table_bytes
