"""A trace replayed chunk by chunk through the HTTP API gets exactly the levels and QoE that
`abr bench` gives, for every policy the service offers."""

import numpy as np
import pytest

from abr.bench.run import run_policy
from abr.policies.registry import make_policy
from abr.sim.simulator import BatchSimulator
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT
from tests.service.conftest import make_client

POLICIES = {
    "dqn": "onnx",
    "bb": "bb",
    "rb": "rb",
    "bola": "bola",
    "mpc": "mpc",
    "dynamic": "dynamic",
}


def replay_through_api(client, traces, video, policy):
    """Each trace a player of `video` with its own session; returns levels [K, N], summaries."""
    n = len(traces)
    sim = BatchSimulator(traces, video, n, mode="eval")
    description = {
        "ladder_kbps": video.bitrates_kbps.tolist(),
        "chunk_s": video.chunk_s,
        "n_chunks": video.n_chunks,
        "chunk_sizes_bytes": video.sizes_bytes.tolist(),
        "policy": policy,
    }
    started = [client.post("/v1/sessions", json=description).json() for _ in range(n)]
    ids = [s["session_id"] for s in started]
    levels = np.zeros((video.n_chunks, n), dtype=np.int64)
    chosen = np.array([s["level"] for s in started])
    for chunk in range(video.n_chunks):
        levels[chunk] = chosen
        result = sim.step(chosen)
        for i, session_id in enumerate(ids):
            answer = client.post(
                f"/v1/sessions/{session_id}/chunks",
                json={
                    "index": chunk,
                    "level": int(chosen[i]),
                    "size_bytes": float(result.size_bytes[i]),
                    "download_s": float(result.download_s[i]),
                    "buffer_s": float(result.buffer_s[i]),
                    "rebuffer_s": float(result.rebuffer_s[i]),
                },
            ).json()
            assert answer["done"] == (chunk == video.n_chunks - 1), answer
            if not answer["done"]:
                assert answer["policy"] == policy and answer["fallback"] is False
                chosen[i] = answer["level"]
    summaries = [client.delete(f"/v1/sessions/{session_id}").json() for session_id in ids]
    return levels, summaries


@pytest.mark.parametrize("policy", list(POLICIES))
def test_api_replay_equals_bench(policy, pensieve_test_traces, envivio):
    traces = pensieve_test_traces[::14]  # 11 traces of every kind
    bench = run_policy(make_policy(POLICIES[policy]), traces, envivio)
    with make_client() as client:
        levels, summaries = replay_through_api(client, traces, envivio, policy)
    np.testing.assert_array_equal(levels, bench.levels)
    for summary, expected in zip(summaries, bench.summaries, strict=True):
        assert summary["mean_qoe"] == pytest.approx(expected.mean_qoe, rel=1e-12)
        assert summary["rebuffer_s"] == pytest.approx(expected.rebuffer_s, rel=1e-12, abs=1e-12)
        assert summary["switches"] == expected.switches
    assert len(np.unique(bench.levels)) > 2  # the traces make the policy move


def test_stateless_decision_equals_the_session_decision(pensieve_test_traces, envivio):
    """/v1/decide with a player's whole history gives the level its session got (mpc included,
    whose error memory is rebuilt from that history); so do the batch and column forms."""
    traces = pensieve_test_traces[::20]
    for policy in ("dqn", "bb", "rb", "bola", "mpc"):
        bench = run_policy(make_policy(POLICIES[policy]), traces, envivio)
        sim = BatchSimulator(traces, envivio, len(traces), mode="eval")
        history_kbps, history_s = [], []
        with make_client() as client:
            for chunk in range(envivio.n_chunks - 1):
                result = sim.step(bench.levels[chunk])
                history_kbps.append(
                    result.size_bytes * BITS_PER_BYTE / BITS_PER_KBIT / result.download_s
                )
                history_s.append(result.download_s)
                players = [
                    {
                        "chunk_index": chunk + 1,
                        "last_level": int(bench.levels[chunk, i]),
                        "buffer_s": float(result.buffer_s[i]),
                        "throughput_kbps": [float(h[i]) for h in history_kbps],
                        "download_s": [float(h[i]) for h in history_s],
                    }
                    for i in range(len(traces))
                ]
                body = {
                    "ladder_kbps": envivio.bitrates_kbps.tolist(),
                    "chunk_s": envivio.chunk_s,
                    "n_chunks": envivio.n_chunks,
                    "chunk_sizes_bytes": envivio.sizes_bytes.tolist(),
                    "policy": policy,
                }
                batch = client.post("/v1/decide/batch", json={**body, "players": players}).json()
                assert batch["levels"] == bench.levels[chunk + 1].tolist(), (policy, chunk)
                single = client.post("/v1/decide", json={**body, **players[0]}).json()
                assert single["level"] == bench.levels[chunk + 1, 0], (policy, chunk)
                columns = {name: [p[name] for p in players] for name in players[0]}
                answer = client.post("/v1/decide/columns", json={**body, **columns}).json()
                assert answer["levels"] == batch["levels"], (policy, chunk)
