"""Stateless decisions in a decision worker process: the same answers and errors as on the event
loop, counted in the server's own metrics."""

import numpy as np
import pytest

from tests.service.conftest import VIDEO, make_client


def _requests() -> list[tuple[str, dict]]:
    rng = np.random.default_rng(5)
    players = [
        {
            "chunk_index": int(rng.integers(1, 40)),
            "last_level": int(rng.integers(0, 6)),
            "buffer_s": float(rng.uniform(0, 40)),
            "throughput_kbps": rng.uniform(200, 6000, 8).round(1).tolist(),
            "download_s": rng.uniform(0.3, 6, 8).round(2).tolist(),
        }
        for _ in range(12)
    ]
    requests = [("/v1/decide", {**VIDEO, "policy": p, **players[0]}) for p in ("dqn", "mpc", "bb")]
    requests += [("/v1/decide/batch", {**VIDEO, "policy": "mpc", "players": players})]
    columns = {k: [p[k] for p in players] for k in players[0]}
    requests += [("/v1/decide/columns", {**VIDEO, "policy": "dqn", **columns})]
    requests += [("/v1/decide", {**VIDEO, "policy": "dqn", **players[0], "last_level": 9})]
    return requests


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_answers_as_the_event_loop_does_and_is_counted(workers: int) -> None:
    with make_client(decision_workers=0) as inline:
        expected = [inline.post(path, json=body) for path, body in _requests()]
    with make_client(decision_workers=workers) as client:
        assert client.app.state.service.workers is not None
        answers = [client.post(path, json=body) for path, body in _requests()]
        metrics = client.get("/metrics").text
    for want, got in zip(expected, answers, strict=True):
        assert (got.status_code, got.json()) == (want.status_code, want.json())
    assert answers[-1].status_code == 422 and answers[-1].json()["detail"].startswith("last_level")
    decided = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("abr_decisions_total{")
    )
    assert decided == 3 + 12 + 12  # three single decisions, two batches of 12
    assert 'abr_errors_total{status="422"} 1.0' in metrics


def test_a_worker_does_not_outlive_its_server() -> None:
    import json
    import os
    import signal
    import time
    import urllib.request

    import psutil

    from tests.conftest import running_server

    with running_server() as (url, pid):
        body = json.dumps({**VIDEO, "policy": "bb", **_requests()[0][1]} | {"policy": "bb"})
        request = urllib.request.Request(
            url + "/v1/decide", body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        workers = psutil.Process(pid).children(recursive=True)
        assert workers, "the decision was made in a worker process"
        os.kill(pid, signal.SIGKILL)  # no shutdown runs
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            w.is_running() and w.status() != "zombie" for w in workers
        ):
            time.sleep(0.2)
        assert not any(w.is_running() and w.status() != "zombie" for w in workers)


def _another_version(source, target) -> str:
    """The shipped model under another creation time: another version, the same decisions."""
    import json

    import onnx

    from abr.policies.model_meta import METADATA_KEY

    model = onnx.load(source)
    entry = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(entry.value)
    meta["created_utc"] = "2030-01-01T00:00:00Z"
    entry.value = json.dumps(meta)
    onnx.save(model, target)
    return f"2030-01-01T00:00:00Z/{meta['train_traces_digest'][:8]}"


def test_workers_decide_with_the_model_served_whatever_happens_to_its_file(tmp_path) -> None:
    import shutil

    from abr.policies.onnx import default_model_path

    admin = {"Authorization": "Bearer s3cret-s3cret-s3cret"}
    path, decide = tmp_path / "model.onnx", _requests()[0]
    shutil.copy(default_model_path(), path)
    with make_client(
        decision_workers=1, model_path=str(path), admin_token="s3cret-s3cret-s3cret"
    ) as client:
        first = client.post(decide[0], json=decide[1]).json()["model_version"]
        new_version = _another_version(default_model_path(), path)  # replaced in place
        assert client.post("/v1/admin/reload", headers=admin).json()["version"] == new_version
        assert client.post(decide[0], json=decide[1]).json()["model_version"] == new_version
        other = tmp_path / "other.onnx"
        shutil.copy(default_model_path(), other)
        answer = client.post("/v1/admin/reload", json={"path": "other.onnx"}, headers=admin)
        assert answer.json()["version"] == first
        other.unlink()
        path.unlink()
        client.app.state.service.workers.close()  # a worker started later reads neither file
        assert client.post(decide[0], json=decide[1]).json()["model_version"] == first
