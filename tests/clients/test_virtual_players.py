"""`abr replay`: virtual players against a real server."""

import time

import numpy as np
import pytest

from abr.bench.run import run_policy
from abr.clients.virtual_players import as_policy_run, parse_pace, replay
from abr.policies.registry import make_policy
from tests.conftest import ENVIVIO, PENSIEVE_TEST, abr, free_port, last_json


def test_pace_max_gives_the_bench_table(live_server, tmp_path):
    """Over HTTP at full speed, pensieve/test gets the QoE table `abr bench` gives."""
    args = ["--traces", str(PENSIEVE_TEST), "--video", str(ENVIVIO), "--json"]
    replay_args = ["--server", live_server, "--policy", "bb", "--concurrency", "8"]
    over_http = last_json(abr("replay", *replay_args, "--out", str(tmp_path / "replay"), *args))
    offline = last_json(abr("bench", "--policies", "bb", "--out", str(tmp_path / "bench"), *args))
    service = over_http.pop("service")
    assert service["errors"] == 0 and service["decisions"] == 142 * 47
    assert service["p50_ms"] <= service["p99_ms"]
    for key in ("mean_qoe", "median_qoe", "p10_qoe", "avg_bitrate_kbps", "rebuffer_ratio"):
        assert over_http["bb"][key] == pytest.approx(offline["bb"][key], rel=1e-12), key
    assert over_http["bb"]["switches"] == offline["bb"]["switches"]
    assert (tmp_path / "replay" / "pensieve_test_latency.png").stat().st_size > 0
    assert (tmp_path / "replay" / "pensieve_test_per_trace.csv").exists()


def test_dqn_players_cycle_traces_and_match_the_onnx_bench(
    live_server, pensieve_test_traces, envivio
):
    traces = pensieve_test_traces[:5]
    results, players, log = replay(
        server=live_server, traces=traces, video=envivio, policy="dqn", concurrency=12, pace="x1000"
    )
    assert len(results) == 12 and [p.name for p in players[:6]] == [t.name for t in traces] + [
        traces[0].name
    ]
    assert log.errors == {} and log.abandoned == 0 and log.decisions == 12 * 47
    bench = run_policy(make_policy("onnx"), traces, envivio)
    run = as_policy_run("dqn", results, players, envivio, "lin")
    for i in range(12):
        np.testing.assert_array_equal(run.levels[:, i], bench.levels[:, i % 5])


def test_pace_parsing():
    assert parse_pace("max") is None and parse_pace("realtime") == 1.0 and parse_pace("x10") == 10.0
    for bad in ("x0", "xfast", "fast", "x-1"):
        with pytest.raises(ValueError, match="--pace"):
            parse_pace(bad)


def test_unreachable_server_is_named():
    answer = abr("replay", "--server", f"http://127.0.0.1:{free_port()}", check=False)
    assert answer.returncode == 2 and "not reachable" in answer.stderr


def test_paced_players_take_their_simulated_time(live_server, pensieve_test_traces, envivio):
    """At xK a player waits out each download (and buffer-full sleep) divided by K."""
    speedup = 50.0
    started = time.perf_counter()
    results, _, log = replay(
        server=live_server,
        traces=pensieve_test_traces[:2],
        video=envivio,
        policy="bb",
        concurrency=2,
        pace=f"x{speedup}",
    )
    elapsed_s = time.perf_counter() - started
    slowest_download_s = max(float(r.download_s.sum()) for r in results)  # sleeps come on top
    assert slowest_download_s / speedup > 1.0  # long enough to measure
    assert elapsed_s >= slowest_download_s / speedup
    assert log.errors == {}
