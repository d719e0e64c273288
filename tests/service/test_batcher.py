"""Model decisions gathered across concurrent requests: one inference, the same levels."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np

from abr.media.video import make_video
from abr.player.ladder_observation import kept_rungs
from abr.player.observation import ObservationSpec
from abr.player.state import PlayerState
from abr.policies.onnx import OnnxModel
from abr.sim.simulator import BatchSimulator
from service.batcher import ModelBatcher
from service.engine import Engine
from service.schemas import VideoSpec
from service.settings import ServiceSettings
from tests.policies.test_onnx import _linear_model, _metadata
from tests.service.conftest import VIDEO


def one_session_states(traces, video, n: int = 24) -> list[PlayerState]:
    """The states of n players on real traces after a few random chunks, one state each."""
    sim = BatchSimulator(traces[:n], video, n, "eval", seed=1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        sim.step(rng.integers(0, video.n_levels, n))
    state = sim.player_state()
    per_session = ("last_level", "buffer_s", "throughput_kbps", "download_s", "history_count")
    per_session += ("next_sizes_bytes", "chunk_index", "chunks_left")
    return [
        replace(state, **{name: getattr(state, name)[i : i + 1] for name in per_session})
        for i in range(n)
    ]


async def gather_levels(batcher: ModelBatcher, states, videos):
    pairs = zip(states, videos, strict=True)
    return await asyncio.gather(*(batcher.level(state, video) for state, video in pairs))


def test_concurrent_decisions_are_one_inference_with_the_same_levels(envivio, pensieve_test_traces):
    model = OnnxModel()
    states = one_session_states(pensieve_test_traces, envivio)
    # the same ladder, other chunk sizes: a second video, encoded on its own
    other = make_video(envivio.bitrates_kbps, envivio.chunk_s, envivio.sizes_bytes * 0.7, "other")
    videos = [envivio if i % 3 else other for i in range(len(states))]
    states = [
        s if v is envivio else replace(s, next_sizes_bytes=s.next_sizes_bytes * 0.7)
        for s, v in zip(states, videos, strict=True)
    ]
    batcher = ModelBatcher(lambda: model)
    answers = asyncio.run(gather_levels(batcher, states, videos))
    assert batcher.batch_sizes == [len(states)]  # all of them in one flush
    expected = [int(model.levels(s)[0]) for s in states]  # one by one
    assert [level for level, _ in answers] == expected
    assert {version for _, version in answers} == {model.metadata.version}
    assert len(set(expected)) > 1  # the states differ enough to get different levels


def test_a_failing_or_missing_model_answers_none_to_every_caller(envivio, pensieve_test_traces):
    states = one_session_states(pensieve_test_traces, envivio, n=5)
    model = OnnxModel()

    def broken(obs):
        raise RuntimeError("inference failed")

    model.q_values = broken  # type: ignore[method-assign]
    for current in (lambda: model, lambda: None):
        batcher = ModelBatcher(current)
        answers = asyncio.run(gather_levels(batcher, states, [envivio] * 5))
        assert answers == [None] * 5


def test_two_reports_of_one_session_in_flight_are_decided_on_their_own_states():
    """The second report is recorded while the first waits for its decision; each decision
    must still be the one for the state its report left (as if they came one by one)."""
    engine = Engine(ServiceSettings())
    # a fast chunk and a full buffer, then a slow one and little buffer left
    reports = [(0, 1, 9e5, 0.5, 30.0, 0.0), (1, 1, 2e5, 4.0, 1.0, 0.0)]

    async def play(concurrently: bool) -> list[int]:
        session, _ = engine.new_session(VideoSpec(**VIDEO), "dqn", "lin")
        calls = [engine.apply_report(session, r) for r in reports]
        if concurrently:
            choices = await asyncio.gather(*calls)
        else:
            choices = [await call for call in calls]
        assert all(c is not None and not c.fallback for c in choices)
        return [int(c.levels[0]) for c in choices]  # type: ignore[union-attr]

    one_by_one = asyncio.run(play(False))
    assert asyncio.run(play(True)) == one_by_one
    assert engine.batcher.batch_sizes[-1] == 2
    assert one_by_one[0] != one_by_one[1]  # different states, different decisions


def test_a_session_on_a_longer_ladder_is_batched_and_decided_as_alone(
    envivio, pensieve_test_traces
):
    model = OnnxModel()  # trained on 2..12 rungs: a 16-rung ladder is decided over 12
    ladder = np.geomspace(100.0, 10_000.0, 16)
    sizes = np.repeat(envivio.sizes_bytes[:1], 16, axis=0) * (ladder / ladder[0])[:, None]
    longer = make_video(ladder, envivio.chunk_s, sizes, "longer ladder")
    states = one_session_states(pensieve_test_traces, envivio, n=6)
    states[2] = one_session_states(pensieve_test_traces, longer, n=6)[2]
    videos = [longer if i == 2 else envivio for i in range(6)]
    answers = asyncio.run(gather_levels(ModelBatcher(lambda: model), states, videos))
    assert [a[0] for a in answers] == [int(model.levels(s)[0]) for s in states]  # type: ignore[index]
    assert answers[2][0] in kept_rungs(16, 12)  # type: ignore[index]


def test_a_session_on_a_ladder_the_model_refuses_falls_back_alone(
    envivio, pensieve_test_traces, tmp_path
):
    width = ObservationSpec(n_levels=6).dim
    model = OnnxModel(_linear_model(tmp_path / "envivio.onnx", width, 6, _metadata()))
    other = make_video(envivio.bitrates_kbps * 2, envivio.chunk_s, envivio.sizes_bytes * 2, "x2")
    states = one_session_states(pensieve_test_traces, envivio, n=6)
    states[2] = one_session_states(pensieve_test_traces, other, n=6)[2]
    videos = [other if i == 2 else envivio for i in range(6)]
    answers = asyncio.run(gather_levels(ModelBatcher(lambda: model), states, videos))
    assert answers[2] is None
    expected = [int(model.levels(s)[0]) for i, s in enumerate(states) if i != 2]
    assert [a[0] for i, a in enumerate(answers) if i != 2] == expected  # type: ignore[index]


def test_a_padded_rung_that_outscores_the_real_ones_is_never_chosen(envivio, pensieve_test_traces):
    """Far outside the trained range every real rung's Q-value can fall below the graph's mask
    on the padded ones; the batcher must still choose among the video's own rungs."""
    model = OnnxModel()
    n_rungs = envivio.n_levels
    assert model.metadata.obs_spec.n_levels > n_rungs  # the shipped graph pads the ladder
    states = one_session_states(pensieve_test_traces, envivio, n=6)
    expected = [int(model.levels(s)[0]) for s in states]  # on the real Q-values
    real_q_values = model.q_values

    def padded_rungs_win(obs: np.ndarray) -> np.ndarray:
        q = real_q_values(obs).copy()
        q[:, n_rungs:] = q.max() + 1.0
        return q

    model.q_values = padded_rungs_win  # type: ignore[method-assign]
    answers = asyncio.run(gather_levels(ModelBatcher(lambda: model), states, [envivio] * 6))
    assert [a[0] if a else None for a in answers] == expected
