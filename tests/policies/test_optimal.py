import itertools

import numpy as np
import pytest

from abr.bench.run import run_policy
from abr.media.video import make_video
from abr.player.qoe import make_qoe
from abr.policies.optimal import OfflineOptimal, plan_optimal
from abr.sim.simulator import BatchSimulator


def small_video(n_chunks=8, seed=0):
    ladder = np.array([300.0, 1200.0, 4300.0])
    rng = np.random.default_rng(seed)
    sizes = ladder[:, None] * 1000 / 8 * 4 * rng.uniform(0.7, 1.3, (3, n_chunks))
    return make_video(ladder, 4.0, sizes)


def exhaustive_best(trace, video, qoe="lin"):
    """QoE over chunks 2..N of every sequence (chunk 1 at level 1), the best of them."""
    sequences = np.array(
        [(1, *rest) for rest in itertools.product(range(video.n_levels), repeat=video.n_chunks - 1)]
    )
    sim = BatchSimulator([trace], video, len(sequences))
    sim.reset(trace_indices=np.zeros(len(sequences), dtype=np.int64))
    metric = make_qoe(qoe, video.bitrates_kbps)
    total = np.zeros(len(sequences))
    for chunk in range(video.n_chunks):
        result = sim.step(sequences[:, chunk])
        if chunk > 0:
            total += metric.per_chunk(
                sequences[:, chunk], sequences[:, chunk - 1], result.rebuffer_s
            )
    return total.max(), sequences[total.argmax()]


@pytest.mark.parametrize(
    ("qoe", "time_bin_s"), [("lin", 1.0), ("log", 1.0), ("hd", 1.0), ("lin", 30.0)]
)
def test_dp_finds_the_exhaustive_optimum_on_small_instances(pensieve_test_traces, qoe, time_bin_s):
    # 8 chunks x 3 levels: 2,187 sequences per trace. With 30-s cells the dominance rule alone
    # must carry the search (keeping only the best QoE per cell misses 18 of the 36 optima).
    video = small_video()
    traces = pensieve_test_traces[::4]  # 36 traces, calm and wild
    plan = plan_optimal(traces, video, qoe=qoe, time_bin_s=time_bin_s)
    for i, trace in enumerate(traces):
        best, _ = exhaustive_best(trace, video, qoe)
        assert plan.qoe_sum[i] == pytest.approx(best, rel=1e-9, abs=1e-9), trace.name


def test_dp_value_is_the_exact_qoe_of_its_plan(pensieve_test_traces, envivio):
    traces = pensieve_test_traces[:8]
    policy = OfflineOptimal()
    run = run_policy(policy, traces, envivio)
    np.testing.assert_allclose(run.qoe_per_trace * 47, policy.plan.qoe_sum, rtol=1e-9)
    assert (policy.plan.levels[:, 0] == 1).all()


def test_optimum_beats_every_online_policy_on_every_trace(pensieve_test_traces, envivio):
    from abr.policies.registry import BASELINES, make_policy

    traces = pensieve_test_traces[::10]
    optimal = run_policy(OfflineOptimal(), traces, envivio).qoe_per_trace
    for name in BASELINES:
        online = run_policy(make_policy(name), traces, envivio).qoe_per_trace
        assert np.all(optimal >= online - 1e-9), name


def test_optimum_needs_the_traces(envivio):
    with pytest.raises(ValueError, match="needs the trace of every session"):
        OfflineOptimal().reset(3, envivio, None)
