"""The one PlayerState builder, and selecting and stacking sessions."""

import numpy as np

from abr.media.video import make_video
from abr.player.state import SESSION_FIELDS, player_state, stack_states

VIDEO = make_video([300.0, 750.0], 4.0, np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]), "v")


def _state(chunk_index: list[int]):
    n = len(chunk_index)
    return player_state(
        VIDEO,
        chunk_index=np.array(chunk_index),
        last_level=np.arange(n),
        buffer_s=np.linspace(1.0, 2.0, n),
        throughput_kbps=np.ones((n, 4)),
        download_s=np.full((n, 4), 2.0),
        history_count=np.full(n, 4),
    )


def test_the_builder_derives_what_follows_from_the_video() -> None:
    state = _state([0, 2, 3])
    assert state.next_sizes_bytes.tolist() == [[1.0, 10.0], [3.0, 30.0], [0.0, 0.0]]  # 0: done
    assert state.chunks_left.tolist() == [3, 1, 0]
    assert state.bitrates_kbps.tolist() == [300.0, 750.0]
    assert (state.chunk_s, state.n_chunks, state.n_levels) == (4.0, 3, 2)


def test_selecting_then_stacking_sessions_gives_the_state_back() -> None:
    state = _state([0, 1, 2])
    parts = [state.sessions(slice(0, 1)), state.sessions(np.array([1, 2]))]
    assert [p.n_sessions for p in parts] == [1, 2]
    stacked = stack_states(parts)
    for name in SESSION_FIELDS:
        np.testing.assert_array_equal(getattr(stacked, name), getattr(state, name))
    assert stacked.bitrates_kbps is state.bitrates_kbps
