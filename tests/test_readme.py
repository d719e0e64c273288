"""The README's Python quick start runs exactly as written, and the README stays a user's page."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import PENSIEVE_TEST, require_shared, running_server

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


def _curl_blocks() -> list[list[tuple[str, str | None]]]:
    """The README's curl blocks: each a list of (curl command, the sample answer written under
    it as `# {...}`, or None)."""
    blocks = []
    for block in re.findall(r"```bash\n(curl .*?)```", README, re.S):
        lines = block.replace("\\\n", " ").splitlines()
        pairs: list[tuple[str, str | None]] = []
        for line in lines:
            if line.startswith("curl "):
                pairs.append((line.split("  #")[0], None))
            elif line.startswith("# {") and pairs:
                pairs[-1] = (pairs[-1][0], line[2:])
        blocks.append(pairs)
    return blocks


def _sample_fields(sample: str) -> dict[str, object]:
    """The fields a sample answer states: `"key":value` pairs, with `…` (a value or fields left
    out) stating nothing, and `"S"` standing for the session's id."""
    fields = {}
    for key, value in re.findall(r'"(\w+)":("[^"]*"|[^,}]+)', sample):
        if value not in ('"…"', '"S"', "…"):
            fields[key] = json.loads(value)
    return fields


def _matches(stated: object, answered: object) -> bool:
    """A stated string that ends in `…` is the start of the answer's."""
    if isinstance(stated, str) and stated.endswith("…"):
        return isinstance(answered, str) and answered.startswith(stated[:-1])
    return stated == answered


def _send(url: str, command: str, session_id: str | None) -> httpx.Response:
    """One README curl command, sent as curl would send it."""
    words = shlex.split(command.replace("localhost:8000", url).replace("/S", f"/{session_id}"))
    method, body, headers = "GET", None, {}
    i = 1
    while i < len(words):
        word = words[i]
        if word == "-X":
            method, i = words[i + 1], i + 1
        elif word == "-H":
            name, value = words[i + 1].split(":", 1)
            headers[name.strip()], i = value.strip(), i + 1
        elif word == "-d":
            method = "POST" if method == "GET" else method
            body, i = words[i + 1], i + 1
        elif not word.startswith("-"):
            target = word
        i += 1
    return httpx.request(method, target, content=body, headers=headers, timeout=10)


def test_the_readme_http_samples_are_what_the_service_answers() -> None:
    """Every curl command of the README against the real server with the shipped model, and
    every sample answer written under one is what it answers."""
    blocks = _curl_blocks()
    assert len(blocks) >= 2 and sum(1 for block in blocks for _, s in block if s) >= 4
    with running_server() as (url, _):
        for block in blocks:
            session_id = None
            for command, sample in block:
                answer = _send(url, command, session_id)
                assert answer.is_success, (command, answer.status_code, answer.text)
                body = answer.json()
                session_id = body.get("session_id", session_id)
                for key, value in _sample_fields(sample or "").items():
                    assert _matches(value, body[key]), (command, key, body)
