"""The README's Python quick start runs exactly as written, and the README stays a user's page."""

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PENSIEVE_TEST, require_shared

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_the_python_quick_start_runs_as_written() -> None:
    require_shared(PENSIEVE_TEST)
    (block,) = re.findall(r"```python\n(.*?)```", README, re.S)
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "RobustMPC: mean QoE 0.899 per chunk" in result.stdout


def test_the_readme_is_short_and_links_into_docs() -> None:
    assert len(README.splitlines()) <= 300 and len(README.encode()) < 25_000
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (REPO / link).is_file(), link


def test_no_file_refers_to_a_design_document_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    texts = [p for p in tracked if p.endswith((".py", ".md", ".toml", ".js", ".html"))]
    citing = [p for p in texts if "DESIGN.md" in (REPO / p).read_text()]
    assert citing == [] or citing == ["tests/test_readme.py"]
