"""The real player: dash.js in headless Chromium (Debian's, driven by Playwright) plays a DASH
stream made by `abr dash-content`, over a link shaped by a bandwidth trace (`abr cdn`), and asks
the service for every chunk through our rule (service/static/abr-service-rule.js)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from abr.dash_content import make_dash_content
from tests.conftest import PENSIEVE_TEST, free_port, require_shared, running_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
N_CHUNKS = 10
LADDER_KBPS = [300, 750, 1200, 1850, 2850, 4300]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def content(tmp_path_factory) -> Path:
    for tool in ("ffmpeg", CHROMIUM):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make player-deps` installs what this test needs")
    folder = tmp_path_factory.mktemp("dash")
    make_dash_content(folder, duration_s=4.0 * N_CHUNKS, chunk_s=4.0)
    return folder


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with running_server() as (url, _):
        yield url


@contextlib.contextmanager
def shaped_cdn(content: Path, trace: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "abr.cli", "cdn", "--content", str(content), "--trace", str(trace)]
        + ["--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{url}/s/probe/manifest.mpd")
            break
        time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def play(browser, page_url: str, timeout_s: float = 150.0, speed: float = 1.0):
    """Open the demo page, play to the end; returns the rule's log and the console lines."""
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(page_url)
    page.wait_for_function("window.abrPlayer !== undefined")
    page.evaluate(f"document.getElementById('video').playbackRate = {speed}")
    page.wait_for_function("window.abrEnded === true", timeout=timeout_s * 1000)
    log = page.evaluate("window.abrRule.log")
    page.close()
    return log, console


def page_qoe(log) -> float:
    """QoE_lin over chunks 2..N from what the page itself measured."""
    fetched = sorted(log["fetched"], key=lambda f: f["index"])
    mbps = np.array([LADDER_KBPS[f["level"]] for f in fetched]) / 1000.0
    stalls = np.array([r["rebuffer_s"] for r in sorted(log["reports"], key=lambda r: r["index"])])
    per_chunk = mbps[1:] - 4.3 * stalls[1:] - np.abs(np.diff(mbps))
    return float(per_chunk.mean())


def check_every_chunk_followed_the_service(log) -> None:
    fetched = {f["index"]: f["level"] for f in log["fetched"]}
    decided = {d["index"]: d["level"] for d in log["decisions"]}
    assert sorted(fetched) == list(range(N_CHUNKS)), "each chunk fetched once"
    assert len(log["fetched"]) == N_CHUNKS
    for index in range(N_CHUNKS):
        assert fetched[index] == decided[index], f"chunk {index}: fetched {fetched[index]}"
    assert [r["index"] for r in log["reports"]] == list(range(N_CHUNKS))


def test_steady_fast_link_reaches_the_top_rung_without_stalling(
    browser, content, service, tmp_path
):
    trace = tmp_path / "steady_50mbps.txt"
    trace.write_text("".join(f"{t} 50\n" for t in range(0, 400, 10)))
    with shaped_cdn(content, trace) as cdn:
        log, console = play(browser, f"{service}/demo?mpd={cdn}/s/steady/manifest.mpd", speed=4.0)
    assert not log["errors"], log["errors"]
    check_every_chunk_followed_the_service(log)
    assert max(f["level"] for f in log["fetched"]) == len(LADDER_KBPS) - 1
    assert sum(r["rebuffer_s"] for r in log["reports"]) == 0.0
    summary = log["summary"]
    assert summary["chunks"] == N_CHUNKS and summary["fallbacks"] == 0
    assert summary["mean_qoe"] == pytest.approx(page_qoe(log), abs=1e-9)


def test_a_real_trace_every_level_is_the_services_and_qoe_agrees(browser, content, service):
    trace = require_shared(PENSIEVE_TEST) / "norway_tram_14"  # ~1-2 Mbps, a tram ride
    with shaped_cdn(content, trace) as cdn:
        log, _ = play(browser, f"{service}/demo?mpd={cdn}/s/tram/manifest.mpd&policy=mpc")
    assert not log["errors"], log["errors"]
    check_every_chunk_followed_the_service(log)
    assert log["decisions"][1]["policy"] == "mpc"
    assert len({f["level"] for f in log["fetched"]}) > 1  # the link made it adapt
    # the service scores what the page reported; stalls are timed by the page to ~10 ms
    assert log["summary"]["mean_qoe"] == pytest.approx(page_qoe(log), abs=0.05)


def test_unreachable_service_falls_back_to_dashjs_and_keeps_playing(
    browser, content, service, tmp_path
):
    trace = tmp_path / "steady_20mbps.txt"
    trace.write_text("".join(f"{t} 20\n" for t in range(0, 400, 10)))
    closed = f"http://127.0.0.1:{free_port()}"
    with shaped_cdn(content, trace) as cdn:
        page = browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{service}/demo")
        page.evaluate(
            """([mpd, server]) => {
              const player = dashjs.MediaPlayer().create();
              window.rule = AbrServiceRule.attach(player, {server: server});
              window.done = false;
              player.on(dashjs.MediaPlayer.events.PLAYBACK_ENDED, () => { window.done = true; });
              player.initialize(document.getElementById('video'), mpd, true);
              document.getElementById('video').playbackRate = 4;
            }""",
            [f"{cdn}/s/fallback/manifest.mpd", closed],
        )
        page.wait_for_function("window.done === true", timeout=120_000)
        log = page.evaluate("window.rule.log")
        fallback = page.evaluate("window.rule.state.fallback")
        page.close()
    assert fallback is True and log["errors"]
    assert len({f["index"] for f in log["fetched"]}) == N_CHUNKS  # played to the end anyway
    assert any("dash.js rules take over" in line for line in console)
