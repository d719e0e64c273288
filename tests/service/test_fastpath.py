"""Fast routes are declared once, by their annotations; errors map to statuses in one table."""

import asyncio

import pytest
from pydantic import BaseModel

from service.errors import (
    InvalidField,
    NotAuthorized,
    OutOfOrder,
    RequestError,
    TooLarge,
    UnknownSession,
    status_of,
)
from service.fastpath import FastRouter, FastRoutes, WrongMethod


class Body(BaseModel):
    value: int


class Answer(BaseModel):
    text: str


def test_a_route_takes_body_answer_and_path_parameters_from_its_annotations() -> None:
    router = FastRouter("things")
    seen = {}

    @router.post("/v1/things/{thing_id}/parts/{part}", status=201)
    async def add_part(service: object, thing_id: str, part: str, body: Body) -> Answer:
        """Add a part."""
        seen.update(service=service, thing_id=thing_id, part=part, value=body.value)
        return Answer(text="ok")

    (route,) = router.routes
    assert (route.body, route.answer, route.status, route.tag) == (Body, Answer, 201, "things")
    matched = FastRoutes([router]).match("POST", "/v1/things/t1/parts/wheel")
    assert not isinstance(matched, WrongMethod) and matched is not None
    status, answer = asyncio.run(route.respond("S", b'{"value": 7}', matched[1]))
    assert (status, Answer.model_validate_json(answer)) == (201, Answer(text="ok"))
    assert seen == {"service": "S", "thing_id": "t1", "part": "wheel", "value": 7}
    operation = FastRoutes([router]).operations["/v1/things/{thing_id}/parts/{part}"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["thing_id", "part"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Body"
    )
    assert "201" in operation["responses"] and operation["summary"] == "Add a part."


def test_a_route_without_a_body_is_called_with_its_path_parameters_only() -> None:
    router = FastRouter("things")

    @router.delete("/v1/things/{thing_id}")
    async def remove(service: object, thing_id: str) -> Answer:
        return Answer(text=thing_id)

    (route,) = router.routes
    assert route.body is None
    assert asyncio.run(route.respond(None, b"", {"thing_id": "t9"})) == (200, b'{"text":"t9"}')
    assert isinstance(FastRoutes([router]).match("POST", "/v1/things/t9"), WrongMethod)


def test_annotations_that_do_not_fit_the_template_are_refused_at_start_up() -> None:
    router = FastRouter("things")
    with pytest.raises(TypeError, match="do not match"):

        @router.post("/v1/things/{thing_id}")
        async def wrong_name(service: object, thing: str) -> Answer:
            return Answer(text="")

    with pytest.raises(TypeError, match="pydantic model"):

        @router.post("/v1/things")
        async def no_answer(service: object) -> dict:
            return {}


@pytest.mark.parametrize(
    "error, status",
    [
        (InvalidField("level", "outside the ladder"), 422),
        (UnknownSession("abc"), 404),
        (OutOfOrder("index", "expected chunk 3, got 4"), 409),
        (TooLarge("players", "more than 4096 in one batch"), 413),
        (NotAuthorized(), 401),
    ],
)
def test_each_domain_error_has_its_status_and_names_the_field(
    error: RequestError, status: int
) -> None:
    assert status_of(error) == status
    assert str(error).startswith(f"{error.field}: ") or not error.field


def test_a_new_kind_of_error_takes_its_parent_status() -> None:
    class LevelTooHigh(InvalidField):
        pass

    assert status_of(LevelTooHigh("level", "too high")) == 422
