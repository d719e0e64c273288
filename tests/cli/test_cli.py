"""The `abr` console script, run as users run it: a subprocess, reading its stdout."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from abr.bench.paired import paired_gain
from abr.media.traces import read_trace
from tests.conftest import PENSIEVE_TEST, SHARED_DATA, abr, last_json, require_shared

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "abr" / "data" / "default_model.onnx"


def test_help_lists_the_subcommands():
    out = abr("--help").stdout
    for command in ("traces", "video", "bench-sim"):
        assert command in out
    assert "zero-bandwidth runs" in abr("traces", "stats", "--help").stdout


def test_traces_stats_json():
    stats = last_json(abr("traces", "stats", str(require_shared(PENSIEVE_TEST)), "--json"))
    assert stats["files"] == 142
    assert abs(stats["time_weighted_mean_mbps"] - 1.202) < 0.001  # PROVENANCE.md
    assert abs(stats["total_hours"] - 10.3) < 0.05


def test_malformed_trace_exits_2_naming_file_and_line(tmp_path):
    (tmp_path / "broken").write_text("0 1\n1 2\n2 x\n")
    result = abr("traces", "stats", str(tmp_path), check=False)
    assert result.returncode == 2
    assert f"{tmp_path / 'broken'}:3: not a number" in result.stderr.replace("\n", "")


def test_convert_mahimahi_to_cooked_and_back(tmp_path):
    source = require_shared(SHARED_DATA / "traces" / "mahimahi" / "Verizon-LTE-short.down")
    abr("traces", "convert", str(source), str(tmp_path / "cooked"), "--to", "cooked")
    cooked = read_trace(tmp_path / "cooked")
    assert abs(cooked.duration_s - 140.0) < 1e-9
    abr(
        "traces",
        "convert",
        str(tmp_path / "cooked"),
        str(tmp_path / "again.down"),
        "--to",
        "mahimahi",
    )
    original = np.loadtxt(source)
    again = np.loadtxt(tmp_path / "again.down")
    assert abs(len(again) - len(original)) <= 1  # the same packets, up to the last partial one
    assert abs(again[-1] - original[-1]) <= 1000


def test_synth_then_stats(tmp_path):
    abr(
        "traces",
        "synth",
        "--out",
        str(tmp_path),
        "--count",
        "3",
        "--seed",
        "9",
        "--duration-s",
        "60",
    )
    stats = last_json(abr("traces", "stats", str(tmp_path), "--json"))
    assert stats["files"] == 3 and abs(stats["total_hours"] - 3 * 60 / 3600) < 1e-9


def test_video_synth_and_info(tmp_path):
    abr(
        "video", "synth", "--out", str(tmp_path / "v.json"), "--ladder", "200,800", "--chunks", "10"
    )
    info = last_json(abr("video", "info", str(tmp_path / "v.json"), "--json"))
    assert info["bitrates_kbps"] == [200.0, 800.0] and info["chunks"] == 10


def test_bench_sim_json_has_the_promised_keys():
    result = last_json(abr("bench-sim", "--sessions", "1,16", "--seconds", "0.05", "--json"))
    assert result["reference_steps_per_s"] > 0
    assert set(result["steps_per_s"]) == {"1", "16"}
    assert result["speedup_at_16"] == result["steps_per_s"]["16"] / result["reference_steps_per_s"]


def test_a_folder_of_one_trace_names_the_folder_and_val_traces(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "t").write_text("0 1\n1 2\n")
    result = abr("train", "--traces", str(folder), "--out", str(tmp_path / "run"), check=False)
    message = result.stderr.replace("\n", "")
    assert result.returncode == 2 and str(folder) in message and "--val-traces" in message


def test_error_messages_are_printed_as_they_are_not_as_markup(tmp_path):
    folder = tmp_path / "sets"
    folder.mkdir()
    (folder / "[red]x").write_text("0 1\n1 x\n")
    result = abr("traces", "stats", str(folder), check=False)
    assert result.returncode == 2 and "[red]x:2: not a number" in result.stderr.replace("\n", "")


def test_bad_video_manifests_name_the_file_and_field(tmp_path):
    cases = {
        "ragged.json": (
            '{"bitrates_kbps": [1, 2], "chunk_s": 4, "sizes_bytes": [[1, 2], [3]]}',
            "sizes_bytes must be numbers in a [levels][chunks] table",
        ),
        "strings.json": (
            '{"bitrates_kbps": ["a", 2], "chunk_s": 4, "n_chunks": 3}',
            "bitrates_kbps must be numbers",
        ),
        "shape.json": (
            '{"bitrates_kbps": [1, 2, 3], "chunk_s": 4, "sizes_bytes": [[1], [2]]}',
            "sizes_bytes must be [levels=3, chunks>=1], got (2, 1)",
        ),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        result = abr("video", "info", str(tmp_path / name), check=False)
        assert result.returncode == 2
        assert f"{tmp_path / name}: {expected}" in result.stderr.replace("\n", ""), name


def test_the_command_line_starts_without_torch():
    """The serving install has no torch: every command module must import without it."""
    import subprocess
    import sys

    blocked = "import sys; sys.modules['torch'] = None; import abr.cli, abr.dqn.config"
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_bench_videos_runs_a_matrix_with_gains_over_robustmpc(tmp_path):
    """Every trace set with every video; each policy's gain is its mean QoE minus RobustMPC's in
    the same cell, with the paired bootstrap interval of the same traces' differences."""
    result = last_json(
        abr(
            "bench",
            "--traces",
            "traces/default/test",
            "--videos",
            "low4",
            "hls10",
            "--policies",
            "rb,mpc",
            "--out",
            str(tmp_path),
            "--json",
        )
    )
    cells = result["cells"]["default_test"]
    assert set(cells) == {"low4", "hls10"}
    for video, table in cells.items():
        gain = table["rb"]["mean_qoe"] - table["mpc"]["mean_qoe"]
        assert result["gain_over_mpc"]["rb"]["default_test"][video] == pytest.approx(
            gain, abs=1e-12
        )
        low, high = result["gain_over_mpc_interval"]["rb"]["default_test"][video]
        assert (low, high) == (table["rb"]["gain_over_mpc_low"], table["rb"]["gain_over_mpc_high"])
        per_trace = read_per_trace_qoe(tmp_path / f"default_test@{video}_per_trace.csv")
        want = paired_gain(per_trace["rb"], per_trace["mpc"])
        assert (low, high) == pytest.approx((want.low, want.high), abs=1e-12)
        assert low < gain < high
        assert table["mpc"]["gain_over_mpc_low"] == table["mpc"]["gain_over_mpc_high"] == 0.0
    assert cells["low4"]["mpc"]["mean_qoe"] != cells["hls10"]["mpc"]["mean_qoe"]
    assert (tmp_path / "default_test@low4_summary.csv").is_file()
    refused = abr("bench", "--video", "x", "--videos", "low4", check=False)
    assert refused.returncode == 2 and "--video or --videos" in refused.stderr


def read_per_trace_qoe(path) -> dict[str, np.ndarray]:
    """policy -> its mean QoE per trace, in the order of `abr bench`'s per-trace CSV."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    policies = dict.fromkeys(row["policy"] for row in rows)
    return {p: np.array([float(r["mean_qoe"]) for r in rows if r["policy"] == p]) for p in policies}


def test_a_missing_config_file_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nope.toml"
    result = abr("train", "--config", str(missing), "--out", str(tmp_path / "x"), check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"abr: error: {missing}: No such file or directory"


def test_tables_are_whole_when_stdout_is_not_a_terminal(tmp_path):
    """Through a pipe rich would cut a table at its console's width (`onnx:out/demo/model.on…`
    in `make demo`'s log): every cell whole, however wide the table."""
    model = tmp_path / ("a-folder-with-a-long-name-" * 4) / "model.onnx"
    model.parent.mkdir()
    shutil.copy(SHIPPED_MODEL, model)
    policies = f"bb,rb,bola,mpc,dynamic,onnx:{model}"
    result = abr(
        "bench",
        "--traces",
        "traces/default/test",
        "--policies",
        policies,
        "--out",
        str(tmp_path / "out"),
    )
    assert "…" not in result.stdout
    assert f"onnx:{model}" in result.stdout
    summary = json.loads((tmp_path / "out" / "default_test_summary.json").read_text())
    assert f"{summary[f'onnx:{model}']['mean_qoe']:.3f}" in result.stdout


def test_a_second_bench_into_the_same_folder_says_it_replaced_the_first(tmp_path):
    command = (
        "bench",
        "--traces",
        "traces/default/test",
        "--policies",
        "bb",
        "--out",
        str(tmp_path),
    )
    assert "replacing" not in abr(*command).stderr
    assert "replacing an earlier run's results for default_test" in abr(*command).stderr.replace(
        "\n", " "
    )
