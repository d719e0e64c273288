"""Videos: a bitrate ladder, a chunk duration and the size of every chunk at every level.

Sources: Pensieve's table (a folder of `video_size_<level>` files, one size in bytes per line), a
JSON manifest of our own, or a synthetic VBR video generated from a ladder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from abr.units import BITS_PER_BYTE, BITS_PER_KBIT

# Pensieve's Envivio-Dash3 video (sim/env.py): the ladder, 4-s chunks, 48 chunks used of 49.
ENVIVIO_BITRATES_KBPS = (300, 750, 1200, 1850, 2850, 4300)
ENVIVIO_CHUNK_S = 4.0
ENVIVIO_CHUNKS = 48
DEFAULT_VIDEO_RESOURCE = "default_video.json"


class VideoError(ValueError):
    """A video description that cannot be used: where (a file, a file:line, or a name) and
    what is wrong; the message is `where: reason`."""

    def __init__(self, source: object, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source, self.reason = str(source), reason


@dataclass(frozen=True)
class Video:
    bitrates_kbps: np.ndarray  # [L] float64, strictly increasing
    chunk_s: float
    sizes_bytes: np.ndarray  # [L, N] float64
    name: str = "video"

    @property
    def n_levels(self) -> int:
        return len(self.bitrates_kbps)

    @property
    def n_chunks(self) -> int:
        return int(self.sizes_bytes.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_chunks * self.chunk_s

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "bitrates_kbps": self.bitrates_kbps.tolist(),
            "chunk_s": self.chunk_s,
            "sizes_bytes": self.sizes_bytes.astype(np.int64).tolist(),
        }


def make_video(
    bitrates_kbps: list[float] | tuple[float, ...] | np.ndarray,
    chunk_s: float,
    sizes_bytes: np.ndarray | list[list[float]],
    name: str = "video",
) -> Video:
    ladder = np.asarray(bitrates_kbps, dtype=np.float64)
    sizes = np.asarray(sizes_bytes, dtype=np.float64)
    if ladder.ndim != 1 or len(ladder) < 1:
        raise VideoError(name, "bitrates_kbps must be a non-empty list")
    if not np.all(np.isfinite(ladder)) or np.any(ladder <= 0):
        raise VideoError(name, "bitrates_kbps must be positive numbers")
    if np.any(np.diff(ladder) <= 0):
        raise VideoError(name, "bitrates_kbps must be strictly increasing")
    if not np.isfinite(chunk_s) or chunk_s <= 0:
        raise VideoError(name, f"chunk_s must be positive, got {chunk_s}")
    if sizes.ndim != 2 or sizes.shape[0] != len(ladder) or sizes.shape[1] < 1:
        raise VideoError(
            name, f"sizes_bytes must be [levels={len(ladder)}, chunks>=1], got {sizes.shape}"
        )
    if not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise VideoError(name, "every chunk size must be a positive number of bytes")
    return Video(ladder, float(chunk_s), sizes, name)


def nominal_video(
    bitrates_kbps: list[float] | tuple[float, ...] | np.ndarray,
    chunk_s: float,
    n_chunks: int,
    name: str = "video",
) -> Video:
    """A constant-bitrate video without a size table, in O(levels) memory whatever `n_chunks`:
    its `sizes_bytes` is a read-only [L, N] view of one column."""
    if n_chunks < 1:
        raise VideoError(name, f"n_chunks must be at least 1, got {n_chunks}")
    one_chunk = make_video(
        bitrates_kbps, chunk_s, nominal_sizes_bytes(bitrates_kbps, chunk_s, 1), name
    )
    sizes = np.broadcast_to(one_chunk.sizes_bytes, (one_chunk.n_levels, n_chunks))
    return Video(one_chunk.bitrates_kbps, one_chunk.chunk_s, sizes, name)


def nominal_sizes_bytes(
    bitrates_kbps: list[float] | tuple[float, ...] | np.ndarray, chunk_s: float, n_chunks: int
) -> np.ndarray:
    """Constant-bitrate sizes: what a player without a size table can assume. [L, N]"""
    per_chunk = np.asarray(bitrates_kbps, dtype=np.float64) * BITS_PER_KBIT / BITS_PER_BYTE
    return np.repeat((per_chunk * chunk_s)[:, None], n_chunks, axis=1)


def load_pensieve_video(
    folder: str | Path,
    bitrates_kbps: tuple[float, ...] = ENVIVIO_BITRATES_KBPS,
    chunk_s: float = ENVIVIO_CHUNK_S,
    n_chunks: int | None = ENVIVIO_CHUNKS,
) -> Video:
    """Read `video_size_0..L-1` (bytes per line); Pensieve's env uses the first 48 of 49 chunks."""
    folder = Path(folder)
    rows = []
    for level in range(len(bitrates_kbps)):
        path = folder / f"video_size_{level}"
        if not path.is_file():
            raise VideoError(path, "missing (need one file per ladder level)")
        sizes = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    sizes.append(float(line))
                except ValueError:
                    raise VideoError(
                        f"{path}:{number}", f"not a number: {line.strip()!r}"
                    ) from None
        rows.append(sizes)
    n_available = min(len(r) for r in rows)
    n = n_available if n_chunks is None else n_chunks
    if n > n_available:
        raise VideoError(folder, f"asked for {n} chunks, the table has {n_available}")
    table = np.array([r[:n] for r in rows])
    return make_video(bitrates_kbps, chunk_s, table, name=folder.name)


def load_video_json(path: str | Path) -> Video:
    """Our manifest: `{"bitrates_kbps": [...], "chunk_s": 4, "sizes_bytes": [[...]...]}`.

    `sizes_bytes` may be left out if `n_chunks` is given: sizes are then nominal (CBR).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VideoError(path, f"cannot read video manifest ({exc})") from None
    return video_from_json(data, str(path))


def video_from_json(data: object, name: str) -> Video:
    if not isinstance(data, dict):
        raise VideoError(name, "manifest must be a JSON object")
    for key in ("bitrates_kbps", "chunk_s"):
        if key not in data:
            raise VideoError(name, f"missing field {key!r}")
    ladder = _numbers(data["bitrates_kbps"], "bitrates_kbps", name)
    chunk_s = float(_numbers(data["chunk_s"], "chunk_s", name))
    if "sizes_bytes" in data:
        sizes = _numbers(data["sizes_bytes"], "sizes_bytes", name)
    elif "n_chunks" in data:
        sizes = nominal_sizes_bytes(
            ladder, chunk_s, int(_numbers(data["n_chunks"], "n_chunks", name))
        )
    else:
        raise VideoError(name, "needs 'sizes_bytes' or 'n_chunks'")
    try:
        return make_video(ladder, chunk_s, sizes, name=str(data.get("name", Path(name).stem)))
    except VideoError as exc:  # named after the file, not the manifest's own name
        raise VideoError(name, exc.reason) from None


def _numbers(value: object, field: str, name: str) -> np.ndarray:
    """`value` as float64; a VideoError naming the file and field for anything else (strings,
    ragged lists)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        shape = " in a [levels][chunks] table, every row as long" if field == "sizes_bytes" else ""
        raise VideoError(name, f"{field} must be numbers{shape}") from None


def save_video_json(video: Video, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(video.to_json(), indent=1) + "\n")
    tmp.replace(path)


def load_video(source: str | Path | None = None) -> Video:
    """A Pensieve size folder, a JSON manifest, or (None) the embedded default video."""
    if source is None:
        text = resources.files("abr.data").joinpath(DEFAULT_VIDEO_RESOURCE).read_text()
        return video_from_json(json.loads(text), "default")
    path = Path(source)
    if path.is_dir():
        return load_pensieve_video(path)
    if path.is_file():
        return load_video_json(path)
    raise VideoError(source, "no such video folder or manifest")


def synth_video(
    bitrates_kbps: tuple[float, ...] = ENVIVIO_BITRATES_KBPS,
    chunk_s: float = ENVIVIO_CHUNK_S,
    n_chunks: int = ENVIVIO_CHUNKS,
    seed: int = 0,
    complexity_sigma: float = 0.25,
    complexity_correlation: float = 0.7,
    level_jitter_sigma: float = 0.03,
    name: str = "synthetic",
) -> Video:
    """A VBR video: nominal sizes times a scene-complexity factor shared by all levels.

    The complexity is a log-normal AR(1) series over chunks (mean 1), so sizes swing with the
    content the way real encodes do, with a little independent jitter per level.
    """
    rng = np.random.default_rng(seed)
    log_complexity = np.empty(n_chunks)
    innovation_sigma = complexity_sigma * np.sqrt(1 - complexity_correlation**2)
    log_complexity[0] = rng.normal(0.0, complexity_sigma)
    for k in range(1, n_chunks):
        log_complexity[k] = complexity_correlation * log_complexity[k - 1] + rng.normal(
            0.0, innovation_sigma
        )
    complexity = np.exp(log_complexity - complexity_sigma**2 / 2)
    jitter = np.exp(rng.normal(0.0, level_jitter_sigma, size=(len(bitrates_kbps), n_chunks)))
    nominal = nominal_sizes_bytes(np.asarray(bitrates_kbps, dtype=np.float64), chunk_s, n_chunks)
    sizes = np.round(nominal * complexity[None, :] * jitter)
    return make_video(bitrates_kbps, chunk_s, sizes, name=name)
