"""Service settings: refused at start-up with one line naming the variable."""

import pytest

from service.settings import ServiceSettings
from tests.conftest import abr


@pytest.mark.parametrize("token", ["", "short", "15-characters.."])
def test_an_empty_or_short_admin_token_is_refused(monkeypatch, token: str) -> None:
    monkeypatch.setenv("ABR_ADMIN_TOKEN", token)
    with pytest.raises(ValueError, match="^ABR_ADMIN_TOKEN: must be at least 16 characters"):
        ServiceSettings.from_environment()


def test_a_long_token_and_no_token_are_accepted(monkeypatch) -> None:
    monkeypatch.setenv("ABR_ADMIN_TOKEN", "a-token-of-21-chars!")
    assert ServiceSettings.from_environment().admin_token == "a-token-of-21-chars!"
    monkeypatch.delenv("ABR_ADMIN_TOKEN")
    assert ServiceSettings.from_environment().admin_token is None


def test_abr_serve_refuses_to_start_with_an_empty_token(monkeypatch) -> None:
    monkeypatch.setenv("ABR_ADMIN_TOKEN", "")
    answer = abr("serve", "--port", "1", check=False)
    assert answer.returncode == 2
    assert answer.stderr.strip().replace("\n", "").startswith("abr: error: ABR_ADMIN_TOKEN:")


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_model_path_means_the_shipped_model(monkeypatch, empty: str) -> None:
    monkeypatch.setenv("ABR_MODEL_PATH", empty)
    assert ServiceSettings.from_environment().model_path is None
    monkeypatch.setenv("ABR_MODEL_PATH", "models/m.onnx")
    assert str(ServiceSettings.from_environment().model_path) == "models/m.onnx"
