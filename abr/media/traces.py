"""Bandwidth traces: reading, validating, converting and writing.

A trace is `time_s[]` (non-decreasing, >= 0) and `mbps[]`; bandwidth `mbps[i]` applies to the
interval `(time_s[i-1], time_s[i]]`, so `mbps[0]` is never used by the simulator. Formats:

- cooked (Pensieve): one `time_s mbps` sample per line, any whitespace, `#` comments allowed;
- mahimahi: one integer millisecond timestamp per line, each a 1500-byte delivery opportunity,
  binned here into a bandwidth series (`bin_ms`, default 1000);
- CSV with a header naming a time column (`time_s`, `time`, `timestamp_s`, `timestamp`) and a
  bandwidth column (`mbps`, `bandwidth_mbps`, `throughput_mbps`, `bw_mbps`, or `kbps`, ...).

Every malformed input raises `TraceError` naming the file and, where there is one, the line.
Zero-bandwidth stretches and repeated timestamps are legal; a trace that delivers no bytes at all
is not.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abr.units import BITS_PER_BYTE, MS_PER_S, PACKET_SIZE_BYTES

TRACE_FORMATS = ("auto", "cooked", "mahimahi", "csv")
DEFAULT_MAHIMAHI_BIN_MS = 1000
_CSV_TIME_COLUMNS = ("time_s", "time", "timestamp_s", "timestamp", "t")
_CSV_MBPS_COLUMNS = ("mbps", "bandwidth_mbps", "throughput_mbps", "bw_mbps", "bandwidth")
_CSV_KBPS_COLUMNS = ("kbps", "bandwidth_kbps", "throughput_kbps", "bw_kbps")


class TraceError(ValueError):
    """A trace file or series that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Trace:
    name: str
    time_s: np.ndarray  # [n] float64, non-decreasing
    mbps: np.ndarray  # [n] float64, >= 0; mbps[i] applies to (time_s[i-1], time_s[i]]

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0])

    def __len__(self) -> int:
        return len(self.time_s)


def make_trace(
    name: str,
    time_s: Sequence[float] | np.ndarray,
    mbps: Sequence[float] | np.ndarray,
    lines: Sequence[int] | None = None,
) -> Trace:
    """Validate a series and wrap it; `lines` maps sample index -> source line for errors."""
    time_arr = np.asarray(time_s, dtype=np.float64)
    mbps_arr = np.asarray(mbps, dtype=np.float64)

    def where(i: int) -> str:
        return f"{name}:{lines[i]}" if lines is not None else f"{name}: sample {i}"

    if time_arr.shape != mbps_arr.shape or time_arr.ndim != 1:
        raise TraceError(f"{name}: time and bandwidth must be 1-D and of equal length")
    if len(time_arr) == 0:
        raise TraceError(f"{name}: empty trace (no samples)")
    for values, what in ((time_arr, "time"), (mbps_arr, "bandwidth")):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise TraceError(f"{where(int(bad[0]))}: {what} is not finite ({values[bad[0]]})")
    bad = np.flatnonzero(mbps_arr < 0)
    if len(bad):
        raise TraceError(f"{where(int(bad[0]))}: negative bandwidth {mbps_arr[bad[0]]} Mbps")
    bad = np.flatnonzero(time_arr < 0)
    if len(bad):
        raise TraceError(f"{where(int(bad[0]))}: negative time {time_arr[bad[0]]} s")
    bad = np.flatnonzero(np.diff(time_arr) < 0)
    if len(bad):
        i = int(bad[0]) + 1
        raise TraceError(f"{where(i)}: time decreases ({time_arr[i - 1]} s then {time_arr[i]} s)")
    if len(time_arr) < 2:
        raise TraceError(f"{name}: needs at least 2 samples, has {len(time_arr)}")
    # The simulator's cycle starts at time 0 (Pensieve wraps to time 0, sample 1).
    cycle_durations_s = np.diff(np.concatenate(([0.0], time_arr[1:])))
    if not np.any(mbps_arr[1:] * cycle_durations_s > 0):
        raise TraceError(f"{name}: no bandwidth at all (every interval delivers 0 bytes)")
    return Trace(name=name, time_s=time_arr, mbps=mbps_arr)


def _data_lines(text: str) -> tuple[list[int], list[list[str]]]:
    """Non-blank, non-comment lines as (1-based line numbers, whitespace-split fields)."""
    numbers: list[int] = []
    rows: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            numbers.append(number)
            rows.append(fields)
    return numbers, rows


def _parse_floats(path: str, numbers: list[int], rows: list[list[str]], width: int) -> np.ndarray:
    for number, fields in zip(numbers, rows, strict=True):
        if len(fields) != width:
            raise TraceError(f"{path}:{number}: expected {width} fields, found {len(fields)}")
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except ValueError:
        pass
    for number, fields in zip(numbers, rows, strict=True):  # slow path: find the bad field
        for field in fields:
            try:
                float(field)
            except ValueError:
                raise TraceError(f"{path}:{number}: not a number: {field!r}") from None
    raise TraceError(f"{path}: could not parse numbers")  # pragma: no cover


def read_cooked(path: str | Path) -> Trace:
    path = str(path)
    numbers, rows = _data_lines(_read_text(path))
    if not rows:
        raise TraceError(f"{path}: empty trace (no samples)")
    values = _parse_floats(path, numbers, rows, 2)
    return make_trace(path, values[:, 0], values[:, 1], numbers)


def read_mahimahi(path: str | Path, bin_ms: int = DEFAULT_MAHIMAHI_BIN_MS) -> Trace:
    path = str(path)
    numbers, rows = _data_lines(_read_text(path))
    if not rows:
        raise TraceError(f"{path}: empty trace (no delivery opportunities)")
    values = _parse_floats(path, numbers, rows, 1)[:, 0]
    bad = np.flatnonzero((values != np.floor(values)) | (values < 0))
    if len(bad):
        raise TraceError(
            f"{path}:{numbers[bad[0]]}: not a non-negative integer millisecond: {rows[bad[0]][0]}"
        )
    bad = np.flatnonzero(np.diff(values) < 0)
    if len(bad):
        raise TraceError(f"{path}:{numbers[bad[0] + 1]}: timestamps decrease")
    time_s, mbps = mahimahi_to_series(values.astype(np.int64), bin_ms, path)
    return make_trace(path, time_s, mbps)


def mahimahi_to_series(
    timestamps_ms: np.ndarray, bin_ms: int = DEFAULT_MAHIMAHI_BIN_MS, name: str = "mahimahi"
) -> tuple[np.ndarray, np.ndarray]:
    """Bin delivery opportunities into a bandwidth series over the trace's period.

    The period is the last timestamp (mahimahi replays the file from there). Bin k covers
    `(k*bin_ms, (k+1)*bin_ms]` (timestamp 0 goes to the first bin); the last bin is cut at the
    period and its rate uses its real width.
    """
    if bin_ms <= 0:
        raise TraceError(f"{name}: bin_ms must be positive, got {bin_ms}")
    period_ms = int(timestamps_ms[-1])
    if period_ms <= 0:
        raise TraceError(f"{name}: trace period is 0 ms (last timestamp must be > 0)")
    n_bins = math.ceil(period_ms / bin_ms)
    bin_index = np.clip((timestamps_ms + bin_ms - 1) // bin_ms - 1, 0, n_bins - 1)
    packets = np.bincount(bin_index, minlength=n_bins)
    ends_ms = np.minimum(np.arange(1, n_bins + 1) * bin_ms, period_ms)
    widths_s = np.diff(np.concatenate(([0], ends_ms))) / MS_PER_S
    mbps = packets * PACKET_SIZE_BYTES * BITS_PER_BYTE / widths_s / 1e6
    time_s = np.concatenate(([0.0], ends_ms / MS_PER_S))
    return time_s, np.concatenate(([mbps[0]], mbps))


def series_to_mahimahi(trace: Trace) -> np.ndarray:
    """Delivery-opportunity timestamps (ms) that carry the trace's bandwidth over one cycle.

    Packet j (1500 bytes) is delivered at the first millisecond at which the link has carried
    j packets' worth of bits, integrating `mbps[i]` over `(time_s[i-1], time_s[i]]` from time 0.
    """
    starts_s = np.concatenate(([0.0], trace.time_s[1:-1]))
    durations_s = trace.time_s[1:] - starts_s
    bytes_per_s = trace.mbps[1:] * 1e6 / BITS_PER_BYTE
    cum_bytes = np.concatenate(([0.0], np.cumsum(bytes_per_s * durations_s)))
    n_packets = int(cum_bytes[-1] // PACKET_SIZE_BYTES)
    targets = np.arange(1, n_packets + 1) * float(PACKET_SIZE_BYTES)
    k = np.searchsorted(cum_bytes, targets, side="left")  # interval k ends at or after target
    k = np.clip(k, 1, len(cum_bytes) - 1)
    times_s = starts_s[k - 1] + (targets - cum_bytes[k - 1]) / bytes_per_s[k - 1]
    return np.maximum(np.ceil(times_s * MS_PER_S - 1e-9), 1).astype(np.int64)


def read_csv(path: str | Path) -> Trace:
    path = str(path)
    text = _read_text(path)
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise TraceError(f"{path}: empty trace (no header)")
    names = [h.strip().lower() for h in header]
    time_col = next((names.index(c) for c in _CSV_TIME_COLUMNS if c in names), None)
    mbps_col = next((names.index(c) for c in _CSV_MBPS_COLUMNS if c in names), None)
    kbps_col = next((names.index(c) for c in _CSV_KBPS_COLUMNS if c in names), None)
    if time_col is None:
        raise TraceError(f"{path}:1: no time column; expected one of {_CSV_TIME_COLUMNS}")
    if mbps_col is None and kbps_col is None:
        raise TraceError(
            f"{path}:1: no bandwidth column; expected one of "
            f"{_CSV_MBPS_COLUMNS + _CSV_KBPS_COLUMNS}"
        )
    bw_col, scale = (mbps_col, 1.0) if mbps_col is not None else (kbps_col, 1e-3)
    assert bw_col is not None
    numbers: list[int] = []
    rows: list[list[str]] = []
    for number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) <= max(time_col, bw_col):
            raise TraceError(f"{path}:{number}: expected {len(header)} columns, found {len(row)}")
        numbers.append(number)
        rows.append([row[time_col].strip(), row[bw_col].strip()])
    if not rows:
        raise TraceError(f"{path}: empty trace (header only)")
    values = _parse_floats(path, numbers, rows, 2)
    return make_trace(path, values[:, 0], values[:, 1] * scale, numbers)


def detect_format(path: str | Path) -> str:
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return "csv"
    if path.suffix.lower() in (".down", ".up"):
        return "mahimahi"
    for line in _read_text(str(path)).splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            return "mahimahi" if len(fields) == 1 else "cooked"
    return "cooked"


def read_trace(path: str | Path, fmt: str = "auto", bin_ms: int = DEFAULT_MAHIMAHI_BIN_MS) -> Trace:
    if fmt not in TRACE_FORMATS:
        raise TraceError(f"{path}: unknown trace format {fmt!r}; expected one of {TRACE_FORMATS}")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "csv":
        return read_csv(path)
    if fmt == "mahimahi":
        return read_mahimahi(path, bin_ms)
    return read_cooked(path)


def trace_paths(sources: Iterable[str | Path]) -> list[Path]:
    """Expand folders (their regular, non-hidden files), globs and files into a sorted list."""
    paths: list[Path] = []
    for source in sources:
        source_path = Path(source)
        if source_path.is_dir():
            found = [p for p in source_path.iterdir() if p.is_file() and not p.name.startswith(".")]
            found = [p for p in found if p.name.lower() not in ("readme.md", "readme")]
        elif any(ch in str(source) for ch in "*?["):
            found = [Path(p) for p in glob.glob(str(source), recursive=True) if Path(p).is_file()]
        elif source_path.is_file():
            found = [source_path]
        else:
            raise TraceError(f"{source}: no such trace file or folder")
        if not found:
            raise TraceError(f"{source}: no trace files found")
        paths.extend(sorted(found))
    return paths


def load_traces(
    sources: Iterable[str | Path], fmt: str = "auto", bin_ms: int = DEFAULT_MAHIMAHI_BIN_MS
) -> list[Trace]:
    """Load every trace from folders, globs or files; fails on the first malformed file."""
    return [read_trace(path, fmt, bin_ms) for path in trace_paths(sources)]


def write_cooked(trace: Trace, path: str | Path, decimals: int | None = None) -> None:
    """Write `time_s<TAB>mbps` lines; full float precision unless `decimals` is given."""
    time_s, mbps = trace.time_s, trace.mbps
    if decimals is not None:
        time_s, mbps = np.round(time_s, decimals), np.round(mbps, decimals)
    pairs = zip(time_s.tolist(), mbps.tolist(), strict=True)
    lines = [f"{t!r}\t{m!r}" for t, m in pairs]
    _write_text_atomic(Path(path), "\n".join(lines) + "\n")


def write_mahimahi(trace: Trace, path: str | Path) -> None:
    timestamps_ms = series_to_mahimahi(trace)
    if len(timestamps_ms) == 0:
        raise TraceError(f"{trace.name}: too little data for one 1500-byte packet")
    _write_text_atomic(Path(path), "\n".join(map(str, timestamps_ms.tolist())) + "\n")


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not a text file ({exc.reason})") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc.strerror})") from None


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def traces_digest(traces: Sequence[Trace]) -> str:
    """sha256 over the traces' names and samples, in name order: which data a model saw."""
    digest = hashlib.sha256()
    for trace in sorted(traces, key=lambda t: t.name):
        digest.update(trace.name.encode())
        digest.update(np.ascontiguousarray(trace.time_s, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(trace.mbps, dtype=np.float64).tobytes())
    return digest.hexdigest()
