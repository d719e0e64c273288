"""The real player: dash.js in headless Chromium (Debian's, driven by Playwright) plays a DASH
stream made by `abr dash-content`, over a link shaped by a bandwidth trace (`abr cdn`), and asks
the service for every chunk through our rule (service/static/abr-service-rule.js)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from abr.dashjs.browser import CHROMIUM, CHROMIUM_ARGS, page_summary, play_demo, shaped_cdn
from abr.dashjs.content import make_dash_content
from tests.conftest import PENSIEVE_TEST, free_port, require_shared, running_server

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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def page_qoe(log) -> float:
    return page_summary(log)["mean_qoe"]


def check_every_chunk_followed_the_service(log) -> None:
    fetched = {f["index"]: f["level"] for f in log["fetched"]}
    decided = {d["index"]: d["level"] for d in log["decisions"]}
    assert sorted(fetched) == list(range(N_CHUNKS)), "each chunk fetched once"
    assert len(log["fetched"]) == N_CHUNKS
    for index in range(N_CHUNKS):
        assert fetched[index] == decided[index], f"chunk {index}: fetched {fetched[index]}"
    assert [r["index"] for r in log["reports"]] == list(range(N_CHUNKS))
    service_log = log["serviceLog"]  # the service's own record of the session
    assert service_log["levels"] == [fetched[i] for i in range(N_CHUNKS)]
    assert service_log["chunks"] == N_CHUNKS


def test_steady_fast_link_reaches_the_top_rung_without_stalling(
    browser, content, service, tmp_path
):
    trace = tmp_path / "steady_50mbps.txt"
    trace.write_text("".join(f"{t} 50\n" for t in range(0, 400, 10)))
    with shaped_cdn(content, trace) as cdn:
        shot = tmp_path / "demo_page.png"
        log, _ = play_demo(
            browser, f"{service}/demo?mpd={cdn}/s/steady/manifest.mpd", speed=2.0, screenshot=shot
        )
    assert shot.stat().st_size > 10_000  # the page, its player and charts, as a PNG
    if os.environ.get("ABR_SCREENSHOT_TO"):  # how the README's screenshot is refreshed
        shutil.copy(shot, os.environ["ABR_SCREENSHOT_TO"])
    assert not log["errors"], log["errors"]
    check_every_chunk_followed_the_service(log)
    assert max(f["level"] for f in log["fetched"]) == len(LADDER_KBPS) - 1
    # no stall: a `waiting` event of a few ms can come from the decoder, not the network, so
    # "no stall" means under 50 ms in all (measured: 0 ms at most speeds, 8 ms once at 4x)
    assert sum(r["rebuffer_s"] for r in log["reports"]) < 0.05
    summary = log["summary"]
    assert summary["chunks"] == N_CHUNKS and summary["fallbacks"] == 0
    assert summary["mean_qoe"] == pytest.approx(page_qoe(log), abs=1e-9)
    check_the_charts(log, LADDER_KBPS)


def check_the_charts(log, ladder_kbps) -> None:
    """Three charts with titled axes in units, every chunk plotted, and the manifest's rungs as
    the bitrate chart's y ticks."""
    charts = log["charts"]
    assert set(charts) == {"bitrate", "buffer", "throughput"}
    assert charts["bitrate"]["ladder"] == ladder_kbps
    assert [charts[c]["axes"] for c in ("bitrate", "buffer", "throughput")] == [
        ["chunk", "kbps"],
        ["chunk", "s"],
        ["chunk", "kbps"],
    ]
    assert all(chart["points"] == N_CHUNKS for chart in charts.values())
    assert "kbps" in charts["bitrate"]["title"] and "(s)" in charts["buffer"]["title"]


def test_another_ladder_s_manifest_plays_with_its_own_rungs(browser, tmp_path, service):
    """Four rungs of 2-s chunks: the rule sends the manifest's ladder, the service decides for
    it, and the charts show its rungs."""
    ladder = [200, 400, 800, 1400]
    content = tmp_path / "low4"
    make_dash_content(content, duration_s=2.0 * N_CHUNKS, chunk_s=2.0, ladder_kbps=ladder)
    trace = tmp_path / "steady_3mbps.txt"
    trace.write_text("".join(f"{t} 3\n" for t in range(0, 400, 10)))
    with shaped_cdn(content, trace) as cdn:
        log, _ = play_demo(browser, f"{service}/demo?mpd={cdn}/s/low4/manifest.mpd&policy=mpc")
    assert not log["errors"], log["errors"]
    assert log["ladder_kbps"] == ladder
    check_every_chunk_followed_the_service(log)
    assert max(f["level"] for f in log["fetched"]) == len(ladder) - 1
    check_the_charts(log, ladder)


def test_a_real_trace_every_level_is_the_services_and_qoe_agrees(browser, content, service):
    trace = require_shared(PENSIEVE_TEST) / "norway_tram_14"  # ~1-2 Mbps, a tram ride
    with shaped_cdn(content, trace) as cdn:
        log, _ = play_demo(browser, f"{service}/demo?mpd={cdn}/s/tram/manifest.mpd&policy=mpc")
    assert not log["errors"], log["errors"]
    check_every_chunk_followed_the_service(log)
    assert log["decisions"][1]["policy"] == "mpc"
    assert len({f["level"] for f in log["fetched"]}) > 1  # the link made it adapt
    # the service scores what the page reported; stalls are timed by the page to ~10 ms
    assert log["summary"]["mean_qoe"] == pytest.approx(page_qoe(log), abs=0.05)


def test_without_dashjs_the_demo_page_says_what_is_missing(browser, tmp_path):
    with running_server(dashjs_path=str(tmp_path / "no-dash.js")) as (url, _):
        page = browser.new_page()
        page.goto(f"{url}/demo")
        status = page.text_content("#status")
        page.close()
        with pytest.raises(RuntimeError, match="the demo page at .*: not installed") as refused:
            play_demo(browser, f"{url}/demo?mpd=http://127.0.0.1:{free_port()}/s/x/manifest.mpd")
    assert status == (
        "not installed on this server: dash.js; run `make player-deps` (npm ci in players/dashjs)"
        " or set ABR_DASHJS_PATH"
    )
    assert str(refused.value).endswith(status)


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
