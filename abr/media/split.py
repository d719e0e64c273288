"""Held-out validation folders made from a training folder: every k-th trace (the first, the
(k+1)-th, … in sorted order, as `abr train` holds out by itself) to `val_<set>`, the rest to
`rest_<set>`. The files are copied unchanged, so a run's config names plain folders."""

from __future__ import annotations

import shutil
from pathlib import Path

from abr.media.traces import TraceError, trace_paths


def set_name(folder: str | Path) -> str:
    """`pensieve` for .../pensieve/train (or /test, or /all); the folder's own name otherwise."""
    path = Path(folder).resolve()
    return path.parent.name if path.name in ("train", "test", "all") else path.name


def split_folder(source: str | Path, every: int, out: str | Path) -> tuple[Path, Path]:
    """Copy every `every`-th trace of `source` to `out/val_<set>` and the others to
    `out/rest_<set>`; returns the two folders. Refuses a folder that would leave either empty."""
    if every < 2:
        raise ValueError(f"--every {every}: must be at least 2")
    if not Path(source).is_dir():
        raise TraceError(f"{source}: not a folder of traces")
    paths = trace_paths([source])
    if len(paths) < 2:
        raise TraceError(f"{source}: {len(paths)} trace(s); a split needs at least 2")
    name = set_name(source)
    val_dir, rest_dir = Path(out) / f"val_{name}", Path(out) / f"rest_{name}"
    for folder in (val_dir, rest_dir):
        if folder.exists() and any(folder.iterdir()):
            raise ValueError(f"{folder}: exists and is not empty")
        folder.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths):
        shutil.copyfile(path, (val_dir if index % every == 0 else rest_dir) / path.name)
    return val_dir, rest_dir
