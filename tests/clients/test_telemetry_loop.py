"""The loop closes: telemetry from players replaying real traces becomes traces that match the
originals over the downloads, and `abr train` runs on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from abr.clients.telemetry_loop import telemetry_loop
from abr.media.synth import write_trace_set
from abr.media.traces import load_traces
from tests.conftest import SHARED_DATA, abr, require_shared


@pytest.mark.slow
def test_telemetry_of_puffer_players_rebuilds_their_traces(tmp_path: Path, envivio) -> None:
    traces = load_traces([require_shared(SHARED_DATA / "traces" / "puffer21" / "test")])[:30]
    figures, rebuilt = telemetry_loop(traces, envivio, "bb", tmp_path)
    assert figures.players == figures.sessions_logged == figures.traces_rebuilt == 30
    assert figures.matched == figures.within_10pct == 30
    assert figures.log_lines == 30 * envivio.n_chunks
    folder = tmp_path / "rebuilt"
    write_trace_set(rebuilt, folder, decimals=6)
    run = tmp_path / "run"
    abr(
        "train",
        "--traces",
        str(folder),
        "--total-env-steps",
        "2000",
        "--learning-starts",
        "500",
        "--val-every-env-steps",
        "1000",
        "--out",
        str(run),
    )
    assert (run / "best.pt").is_file() and (run / "summary.json").is_file()
