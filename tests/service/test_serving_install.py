"""The Dockerfile's serving install, rehearsed without a Docker engine: the files it copies, a
fresh virtual environment, `pip install .` (no extras), the import check, then `abr serve` from
that environment answering on a real port. Catches what an editable install hides: a module
the service imports from an extra, the shipped model missing from the package data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from abr.clients.net import free_port, started
from tests.service.conftest import VIDEO

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()

pytestmark = pytest.mark.slow


def copied_paths() -> list[str]:
    """What the Dockerfile COPYs from the build context (to /app)."""
    paths = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            paths.extend(line.split()[1:-1])
    return paths


def test_the_image_runs_as_a_user_with_a_healthcheck_and_serves():
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M), "the image must not run as root"
    assert re.search(r"^HEALTHCHECK .*?/healthz", DOCKERFILE, re.M | re.S)
    assert re.search(r'^CMD \["abr", "serve"', DOCKERFILE, re.M)


def test_the_serving_install_serves_the_shipped_model_without_torch(tmp_path):
    context = tmp_path / "app"
    context.mkdir()
    for name in copied_paths():
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, context / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "."],
        cwd=context,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    check = "import sys, abr.policies.onnx, service.app; assert 'torch' not in sys.modules"
    subprocess.run([str(python), "-c", check], check=True, cwd=tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = [str(venv / "bin" / "abr"), "serve", "--port", str(port)]
    # from tmp_path, not the repository: the installed package, not the source tree
    token = "t0ken-t0ken-t0ken-1"
    with started(serve, url, env={"ABR_ADMIN_TOKEN": token}, cwd=tmp_path):
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 200, ready.text  # the shipped model loaded from the wheel
        answer = httpx.post(f"{url}/v1/sessions", json=VIDEO)
        assert answer.status_code == 201 and answer.json()["fallback"] is False
        model = httpx.get(f"{url}/v1/model", headers={"Authorization": f"Bearer {token}"}).json()
        assert str(venv) in model["path"]  # served from the install, not the checkout
