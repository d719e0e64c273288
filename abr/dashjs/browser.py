"""Driving the demo page in Debian's headless Chromium (Playwright, no browser download), for the
real-player test and `abr browser-bench`: dash.js with our rule, or with its own rules, over a
link shaped by a trace."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abr.clients.net import free_port
from abr.player.qoe import make_qoe

CHROMIUM = "/usr/bin/chromium"
# As root on a machine without network: no sandbox, no GPU, no background connections.
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


@contextlib.contextmanager
def shaped_cdn(content: Path, trace: Path) -> Iterator[str]:
    """`abr cdn` for `content` over `trace`, on a free port; yields its URL."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "abr.cli", "cdn", "--content", str(content)]
    command += ["--trace", str(trace), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{url}/s/probe/manifest.mpd")
                break
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# what the demo page's charts show: title, the axes' labels, points, and the rungs on the y axis
CHARTS_SCRIPT = """Object.fromEntries(Object.entries(window.abrCharts).map(([id, c]) => [id, {
  title: c.root.querySelector(".u-title").textContent,
  axes: c.axes.map((axis) => axis.label),
  points: c.data[0].length,
  ladder: c.ladder,
}]))"""


def play_demo(
    browser: Any,
    page_url: str,
    timeout_s: float = 180.0,
    speed: float = 1.0,
    screenshot: Path | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Open the demo page and play to the end; returns the rule's log (with the ladder and what
    the charts show) and the console lines."""
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(page_url)
    page.wait_for_function("window.abrPlayer !== undefined || window.abrError !== undefined")
    error = page.evaluate("window.abrError")
    if error is not None:
        page.close()
        raise RuntimeError(f"the demo page at {page_url}: {error}")
    page.evaluate(f"document.getElementById('video').playbackRate = {speed}")
    page.wait_for_function("window.abrEnded === true", timeout=timeout_s * 1000)
    log: dict[str, Any] = page.evaluate("window.abrRule.log")
    log["ladder_kbps"] = page.evaluate("window.abrRule.state.ladderKbps")
    page.wait_for_timeout(700)  # one more redraw of the charts
    log["charts"] = page.evaluate(CHARTS_SCRIPT)
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return log, console


def page_summary(log: dict[str, Any], qoe: str = "lin") -> dict[str, float]:
    """QoE over chunks 2..N (the protocol), bitrate, stalls and switches, as the page saw them."""
    fetched = sorted(log["fetched"], key=lambda f: f["index"])
    reports = sorted(log["reports"], key=lambda r: r["index"])
    ladder = np.array(log["ladder_kbps"], dtype=np.float64)
    levels = np.array([f["level"] for f in fetched])
    stalls = np.array([r["rebuffer_s"] for r in reports])
    metric = make_qoe(qoe, ladder)
    previous = np.concatenate((levels[:1], levels[:-1]))
    per_chunk = metric.per_chunk(levels, previous, stalls)[1:]
    return {
        "mean_qoe": float(per_chunk.mean()),
        "avg_bitrate_kbps": float(ladder[levels].mean()),
        "stall_s": float(stalls[1:].sum()),
        "switches": int(np.count_nonzero(np.diff(levels))),
        "chunks": len(levels),
    }


def browser_bench(
    server: str, content: Path, traces: Sequence[Path], policies: Sequence[str], out: Path
) -> dict[str, dict[str, dict[str, float]]]:
    """Each trace x each policy in the real browser at real time; a screenshot of the first."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for t, trace in enumerate(traces):
            results[trace.name] = {}
            for p, policy in enumerate(policies):
                with shaped_cdn(content, trace) as cdn:
                    url = f"{server}/demo?mpd={cdn}/s/{t}-{p}/manifest.mpd&policy={policy}"
                    shot = out / "demo_page.png" if (t, p) == (0, 0) else None
                    log, _ = play_demo(browser, url, screenshot=shot)
                results[trace.name][policy] = page_summary(log)
        browser.close()
    return results
