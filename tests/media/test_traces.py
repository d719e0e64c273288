from pathlib import Path

import numpy as np
import pytest

from abr.media.traces import (
    TraceError,
    load_traces,
    mahimahi_to_series,
    make_trace,
    read_csv,
    read_mahimahi,
    read_trace,
    series_to_mahimahi,
    trace_paths,
    write_cooked,
    write_mahimahi,
)
from tests.conftest import SHARED_DATA, require_shared


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cooked_accepts_tabs_spaces_comments_and_blank_lines(tmp_path):
    path = write(tmp_path, "t", "# a comment\n0 1.5\n\n1.0\t2.5\n2.5   0\n3 4 \n")
    trace = read_trace(path)
    np.testing.assert_array_equal(trace.time_s, [0, 1, 2.5, 3])
    np.testing.assert_array_equal(trace.mbps, [1.5, 2.5, 0, 4])
    assert trace.duration_s == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty trace"),
        ("# only a comment\n\n", "empty trace"),
        ("0 1\n1 abc\n", ":2: not a number: 'abc'"),
        ("0 1\n1 2 3\n", ":2: expected 2 fields, found 3"),
        ("0 1\n1 nan\n", ":2: bandwidth is not finite"),
        ("0 1\ninf 1\n", ":2: time is not finite"),
        ("0 1\n1 -0.5\n", ":2: negative bandwidth"),
        ("0 1\n2 1\n\n1 1\n", ":4: time decreases"),
        ("-1 1\n2 1\n", ":1: negative time"),
        ("0 1\n", "needs at least 2 samples"),
        ("0 5\n1 0\n2 0\n", "no bandwidth at all"),
        ("0 5\n0 3\n", "no bandwidth at all"),
    ],
)
def test_malformed_cooked_traces_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path, "bad_trace", text)
    with pytest.raises(TraceError) as info:
        read_trace(path, "cooked")
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_binary_and_missing_files_get_clear_errors(tmp_path):
    binary = tmp_path / "blob"
    binary.write_bytes(b"\x00\xff\xfe\x80")
    with pytest.raises(TraceError, match="not a text file"):
        read_trace(binary, "cooked")
    with pytest.raises(TraceError, match="no such trace file or folder"):
        load_traces([tmp_path / "nope"])
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(TraceError, match="no trace files found"):
        load_traces([tmp_path / "empty_dir"])


def test_repeated_timestamps_and_zero_runs_are_legal(tmp_path):
    path = write(tmp_path, "t", "0 1\n1 0\n2 0\n2 7\n3 2\n")
    trace = read_trace(path)
    assert len(trace) == 5


def test_csv_with_header_mbps_and_kbps(tmp_path):
    mbps = read_csv(write(tmp_path, "a.csv", "time_s,mbps,other\n0,1.5,x\n1,2.5,y\n"))
    np.testing.assert_array_equal(mbps.mbps, [1.5, 2.5])
    kbps = read_trace(write(tmp_path, "b.csv", "Timestamp,Bandwidth_kbps\n0,1500\n2,250\n"))
    np.testing.assert_allclose(kbps.mbps, [1.5, 0.25])
    np.testing.assert_array_equal(kbps.time_s, [0, 2])


def test_csv_errors_name_the_column_or_line(tmp_path):
    with pytest.raises(TraceError, match=r"a.csv:1: no time column"):
        read_csv(write(tmp_path, "a.csv", "when,mbps\n0,1\n"))
    with pytest.raises(TraceError, match=r"b.csv:1: no bandwidth column"):
        read_csv(write(tmp_path, "b.csv", "time_s,speed\n0,1\n"))
    with pytest.raises(TraceError, match=r"c.csv:3: not a number"):
        read_csv(write(tmp_path, "c.csv", "time_s,mbps\n0,1\n1,fast\n"))
    with pytest.raises(TraceError, match=r"d.csv: empty trace \(header only\)"):
        read_csv(write(tmp_path, "d.csv", "time_s,mbps\n"))


def test_mahimahi_binning_counts_packets_per_bin():
    # 1000 ms bins; the period is the last timestamp (2500 ms): bins end at 1000, 2000, 2500.
    timestamps = np.array([0, 1, 500, 1000, 1001, 1500, 2000, 2500, 2500])
    time_s, mbps = mahimahi_to_series(timestamps, 1000)
    np.testing.assert_array_equal(time_s, [0, 1, 2, 2.5])
    bits = 1500 * 8
    # (0,1000] holds 0,1,500,1000 -> 4; (1000,2000] holds 1001,1500,2000 -> 3; (2000,2500] -> 2
    np.testing.assert_allclose(mbps[1:], [4 * bits / 1e6, 3 * bits / 1e6, 2 * bits / 0.5 / 1e6])


def test_mahimahi_errors(tmp_path):
    with pytest.raises(TraceError, match=r"m:2: not a non-negative integer"):
        read_mahimahi(write(tmp_path, "m", "1\n2.5\n"))
    with pytest.raises(TraceError, match=r"n:3: timestamps decrease"):
        read_mahimahi(write(tmp_path, "n", "1\n5\n3\n"))
    with pytest.raises(TraceError, match="period is 0 ms"):
        read_mahimahi(write(tmp_path, "z", "0\n0\n"))


def test_cooked_to_mahimahi_and_back_keeps_the_bandwidth(tmp_path):
    trace = make_trace("t", [0, 1, 2, 3, 4], [0, 2.0, 4.0, 0.0, 1.2])
    write_mahimahi(trace, tmp_path / "t.down")
    back = read_trace(tmp_path / "t.down", bin_ms=1000)
    np.testing.assert_allclose(back.time_s, trace.time_s)
    # each 1-s bin gets whole packets only: within one packet (0.012 Mbit) per second
    np.testing.assert_allclose(back.mbps[1:], trace.mbps[1:], atol=0.0121)
    timestamps = series_to_mahimahi(trace)
    assert len(timestamps) == int((2 + 4 + 1.2) * 1e6 / 8 // 1500)
    assert np.all(np.diff(timestamps) >= 0)


def test_cooked_round_trip_is_exact(tmp_path):
    trace = make_trace("t", [0.0, 0.1 + 0.2, 1 / 3], [1e-9, 1 / 7, 2.5])
    write_cooked(trace, tmp_path / "out")
    back = read_trace(tmp_path / "out")
    np.testing.assert_array_equal(back.time_s, trace.time_s)
    np.testing.assert_array_equal(back.mbps, trace.mbps)


def test_folder_and_glob_loading_is_sorted_and_skips_readme(tmp_path):
    for name in ("b", "a", "c.csv"):
        text = "time_s,mbps\n0,1\n1,1\n" if name.endswith(".csv") else "0 1\n1 1\n"
        write(tmp_path, name, text)
    write(tmp_path, "README.md", "not a trace")
    assert [p.name for p in trace_paths([tmp_path])] == ["a", "b", "c.csv"]
    assert [p.name for p in trace_paths([str(tmp_path / "*.csv")])] == ["c.csv"]
    assert len(load_traces([tmp_path])) == 3


def test_every_shared_trace_loads():
    root = require_shared(SHARED_DATA / "traces")
    cooked = load_traces([str(root / "*" / "*" / "*")])
    mahimahi = load_traces([root / "mahimahi"])
    assert len(cooked) > 1800
    assert len(mahimahi) == 4
    att = next(t for t in mahimahi if "ATT-LTE" in t.name)
    assert 119 < att.duration_s < 121  # PROVENANCE: 120 s, about 4.6 Mbps
