"""Shared fixtures: the real data in ../shared/data, and small hand-made traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from abr.traces import load_traces
from abr.video import Video, load_pensieve_video

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PENSIEVE_TEST = SHARED_DATA / "traces" / "pensieve" / "test"
PENSIEVE_TRAIN = SHARED_DATA / "traces" / "pensieve" / "train"
ENVIVIO = SHARED_DATA / "videos" / "envivio"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared/data beside the repository")
    return path


@pytest.fixture(scope="session")
def envivio() -> Video:
    return load_pensieve_video(require_shared(ENVIVIO))


@pytest.fixture(scope="session")
def pensieve_test_traces():
    return load_traces([require_shared(PENSIEVE_TEST)])
