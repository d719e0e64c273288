"""The service's log: lines that requests can repeat are let through once per interval each,
with a count of those held back; inference failures are logged that way."""

import logging

from service.log import INFERENCE_FAILED, RepeatLimit, log
from tests.service.conftest import report, start


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, message, (), None)


def test_each_kind_is_let_through_once_per_interval_with_a_count() -> None:
    now_s = [0.0]
    limit = RepeatLimit(("bad request", "bad upgrade"), interval_s=60.0, clock=lambda: now_s[0])
    passed = []
    for second in range(5):
        now_s[0] = float(second)
        passed += [limit.filter(_record("bad request 1")), limit.filter(_record("bad upgrade"))]
    assert passed == [True, True] + [False] * 8
    assert limit.filter(_record("model not loaded"))  # not a kind it limits
    now_s[0] = 61.0
    record = _record("bad request 2")
    assert limit.filter(record)
    assert record.getMessage() == "bad request 2 (4 more in the last 61 s)"
    now_s[0] = 122.0
    record = _record("bad request 3")
    assert limit.filter(record) and record.getMessage() == "bad request 3"  # none held back


def test_failing_inferences_are_logged_once_with_the_fault(client, caplog, fresh_log_minute):
    session = start(client)["session_id"]

    def broken(obs):
        raise RuntimeError("the graph broke")

    client.app.state.service.engine.model.q_values = broken
    with caplog.at_level(logging.WARNING, logger=log.name):
        for index in range(3):
            answer = client.post(f"/v1/sessions/{session}/chunks", json=report(index, 1))
            assert answer.json()["fallback"] is True
    failures = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(failures) == 1, failures
    assert failures[0].startswith(f"{INFERENCE_FAILED}: RuntimeError('the graph broke')")
