"""The evaluation protocol against docs/design.md's reference figures, and the bench outputs."""

import numpy as np
import pytest

from abr.bench.report import summarize_runs
from abr.bench.run import run_policy
from abr.media.traces import load_traces
from abr.policies.registry import make_policy
from tests.conftest import ENVIVIO, SHARED_DATA, abr, last_json, require_shared

# docs/design.md, "The evaluation protocol": mean QoE_lin per chunk, chunks 2..48, Envivio video
REFERENCE = {
    "pensieve/test": {"bb": 0.639, "rb": 0.745},
    "puffer21/test": {"bb": -0.129, "rb": 0.670},
    "lumos4g/test": {"bb": 3.892, "rb": 4.078, "mpc": 4.039},
}


@pytest.mark.parametrize(
    ("trace_set", "policy"),
    [(s, p) for s, figures in REFERENCE.items() for p in figures],
)
def test_reference_figures(envivio, trace_set, policy):
    traces = load_traces([require_shared(SHARED_DATA / "traces" / trace_set)])
    run = run_policy(make_policy(policy), traces, envivio)
    assert run.aggregate()["mean_qoe"] == pytest.approx(REFERENCE[trace_set][policy], abs=0.005)


def test_protocol_first_chunk_at_level_1_and_scores_chunks_2_to_48(envivio, pensieve_test_traces):
    run = run_policy(make_policy("fixed:0"), pensieve_test_traces[:5], envivio)
    assert (run.levels[0] == 1).all() and (run.levels[1:] == 0).all()
    # fixed:0 after the level-1 first chunk: chunk 2 pays the switch 750 -> 300
    expected = (0.3 * 47 - 0.45 - 4.3 * run.rebuffer_s[1:].sum(axis=0)) / 47
    np.testing.assert_allclose(run.qoe_per_trace, expected)


def test_summary_gaps(envivio, pensieve_test_traces):
    traces = pensieve_test_traces[:10]
    runs = {name: run_policy(make_policy(name), traces, envivio) for name in ("bb", "rb")}
    summary = summarize_runs(runs)
    best = max(summary["bb"]["mean_qoe"], summary["rb"]["mean_qoe"])
    assert summary["bb"]["gap_to_best_online"] == pytest.approx(best - summary["bb"]["mean_qoe"])
    assert summary["rb"]["gap_to_optimal"] is None


def test_bench_cli_writes_tables_files_and_plots(tmp_path):
    out = tmp_path / "bench"
    traces = str(require_shared(SHARED_DATA / "traces" / "pensieve" / "test"))
    args = ["--traces", traces, "--video", str(ENVIVIO), "--policies", "bb,rb,fixed:2"]
    summary = last_json(abr("bench", *args, "--out", str(out), "--json"))
    assert set(summary) == {"bb", "rb", "fixed:2"}
    for key in (
        "mean_qoe",
        "median_qoe",
        "p10_qoe",
        "avg_bitrate_kbps",
        "rebuffer_ratio",
        "switches",
    ):
        assert key in summary["bb"]
    assert abs(summary["bb"]["mean_qoe"] - 0.639) < 0.005
    for name in ("per_trace.csv", "summary.csv", "summary.json", "qoe_cdf.png", "timeline.png"):
        path = out / f"pensieve_test_{name}"
        assert path.stat().st_size > 0, path
    rows = (out / "pensieve_test_per_trace.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3 * 142


def test_bench_cli_rejects_unknown_policy():
    result = abr("bench", "--policies", "bb,magic", check=False)
    assert result.returncode == 2 and "unknown policy 'magic'" in result.stderr


def test_the_future_aware_policies_are_not_the_best_online(envivio, pensieve_test_traces):
    traces = pensieve_test_traces[:6]
    names = ("rb", "oracle:2", "optimal")
    runs = {name: run_policy(make_policy(name), traces, envivio) for name in names}
    summary = summarize_runs(runs)
    assert (
        summary["oracle:2"]["mean_qoe"] > summary["rb"]["mean_qoe"]
    )  # it would be, were it online
    assert summary["rb"]["gap_to_best_online"] == 0.0
    assert summary["oracle:2"]["gap_to_best_online"] < 0.0
