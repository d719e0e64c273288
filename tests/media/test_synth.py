import numpy as np

from abr.media.synth import SynthConfig, synth_traces, write_trace_set
from abr.media.trace_stats import trace_set_stats, zero_runs_s
from abr.media.traces import load_traces


def test_same_seed_same_traces_other_seed_other_traces():
    config = SynthConfig(duration_s=100)
    a, b, c = (synth_traces(config, 3, seed) for seed in (1, 1, 2))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.mbps, y.mbps)
    assert not np.array_equal(a[0].mbps, c[0].mbps)


def test_traces_stay_in_range_and_have_outages():
    config = SynthConfig(duration_s=2000, min_mbps=0.5, max_mbps=4, outage_prob=0.02)
    traces = synth_traces(config, 4, seed=0)
    for trace in traces:
        assert trace.duration_s == 2000
        positive = trace.mbps[trace.mbps > 0]
        # log-normal noise (sigma 0.25) around levels in [0.5, 4]
        assert positive.min() > 0.5 * np.exp(-1.5) and positive.max() < 4 * np.exp(1.5)
    assert sum(len(zero_runs_s(t)) for t in traces) > 0


def test_written_set_reads_back(tmp_path):
    traces = synth_traces(SynthConfig(duration_s=50), 2, seed=4, prefix="x")
    write_trace_set(traces, tmp_path)
    back = load_traces([tmp_path])
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["x_000", "x_001"]
    np.testing.assert_allclose(back[0].mbps, traces[0].mbps, atol=5e-5)


def test_default_trace_set_is_small_and_valid():
    from abr.cli.common import DEFAULT_TRACES

    train = load_traces([DEFAULT_TRACES / "train"])
    test = load_traces([DEFAULT_TRACES / "test"])
    assert len(train) == 40 and len(test) == 20
    size_bytes = sum(p.stat().st_size for p in DEFAULT_TRACES.rglob("*") if p.is_file())
    assert size_bytes < 400_000
    assert 0.5 < trace_set_stats(train)["time_weighted_mean_mbps"] < 3.0
