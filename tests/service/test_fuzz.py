"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis), and client mistakes generated
against a live session (hypothesis): never a 5xx, answers match the schema, and a rejected
request never changes a session."""

import json

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.deps import Service
from service.settings import ServiceSettings
from tests.service.conftest import VIDEO, make_client

EXAMPLES_PER_OPERATION = 120  # x 13 operations: over 1,500 generated requests
SETTINGS = ServiceSettings(admin_token="fuzz-token-0123456789", max_sessions=1000)
app = create_app(SETTINGS)
app.state.service = Service(SETTINGS)  # what the lifespan does; schemathesis calls the app bare
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
calls = {"count": 0}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_generated_requests(case):
    calls["count"] += 1
    response = case.call()
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_the_fuzzing_covered_every_operation():
    """Runs after test_generated_requests (file order): over 1,000 requests, every operation."""
    operations = [op for item in app.openapi()["paths"].values() for op in item]
    assert len(operations) == 13
    assert calls["count"] >= 1000, calls


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
report_fields = st.fixed_dictionaries(
    {},
    optional={
        "index": json_values | st.integers(-2, 50),
        "level": json_values | st.integers(-2, 8),
        "size_bytes": json_values | st.floats(-1e9, 1e9, allow_nan=False),
        "download_s": json_values | st.floats(-10, 100, allow_nan=False),
        "buffer_s": json_values | st.floats(-10, 100, allow_nan=False),
        "rebuffer_s": json_values | st.floats(-10, 100, allow_nan=False),
        "extra": json_values,
    },
)


def test_rejected_reports_never_change_the_session():
    with make_client() as client:
        session = client.post("/v1/sessions", json=VIDEO).json()["session_id"]
        path = f"/v1/sessions/{session}/chunks"
        seen = {"rejected": 0}

        @given(body=report_fields | json_values)
        @settings(max_examples=400, deadline=None, database=None)
        def check(body):
            before = client.get(f"/v1/sessions/{session}").json()
            answer = client.post(
                path, content=json.dumps(body), headers={"content-type": "application/json"}
            )
            assert answer.status_code < 500, answer.text
            if answer.status_code >= 400:
                seen["rejected"] += 1
                assert isinstance(answer.json()["detail"], str)
                assert client.get(f"/v1/sessions/{session}").json() == before

        check()
        assert seen["rejected"] >= 300  # most generated bodies are mistakes
