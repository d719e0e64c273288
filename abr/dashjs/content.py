"""Test content for the real-player integration: a DASH stream of a generated test pattern at
a given ladder, encoded by ffmpeg (constant bitrate, fixed GOPs, so every segment is one chunk
of `chunk_s` seconds at close to its nominal rate), plus the video manifest of its real sizes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from abr.media.video import ENVIVIO_BITRATES_KBPS, VideoError, make_video, save_video_json

FRAME_RATE = 24
HEIGHTS = (240, 360, 480, 720, 720, 1080)  # by rung; extra rungs reuse the last height


def make_dash_content(
    out: str | Path,
    duration_s: float = 40.0,
    chunk_s: float = 4.0,
    ladder_kbps: Sequence[int] = ENVIVIO_BITRATES_KBPS,
) -> Path:
    """Encode `out`/manifest.mpd (+ segments) and `out`/video.json; returns the manifest."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise VideoError("ffmpeg", "not installed (Debian: apt-get install ffmpeg)")
    if duration_s < chunk_s or abs(duration_s / chunk_s - round(duration_s / chunk_s)) > 1e-9:
        raise VideoError("duration_s", f"{duration_s} must be a whole number of {chunk_s}-s chunks")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gop = int(round(chunk_s * FRAME_RATE))
    command = [ffmpeg, "-y", "-loglevel", "error", "-f", "lavfi"]
    command += ["-i", f"testsrc2=size=1280x720:rate={FRAME_RATE}:duration={duration_s}"]
    for level, kbps in enumerate(ladder_kbps):
        height = HEIGHTS[min(level, len(HEIGHTS) - 1)]
        command += ["-map", "0:v"]
        command += [f"-filter:v:{level}", f"scale=-2:{height}"]
        command += [f"-b:v:{level}", f"{kbps}k", f"-minrate:v:{level}", f"{kbps}k"]
        command += [f"-maxrate:v:{level}", f"{kbps}k", f"-bufsize:v:{level}", f"{kbps}k"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    command += ["-x264-params", "nal-hrd=cbr:force-cfr=1"]
    command += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    command += ["-f", "dash", "-seg_duration", str(chunk_s), "-use_template", "1"]
    command += ["-use_timeline", "0", "-adaptation_sets", "id=0,streams=v"]
    command += ["-init_seg_name", "init-$RepresentationID$.m4s"]
    command += ["-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s"]
    command += [str(out / "manifest.mpd")]
    subprocess.run(command, check=True)
    _write_video_json(out, ladder_kbps, chunk_s)
    return out / "manifest.mpd"


def _write_video_json(out: Path, ladder_kbps: Sequence[int], chunk_s: float) -> None:
    """The encoded stream as a video manifest (its real segment sizes), for the service."""
    sizes: list[list[float]] = []
    for level in range(len(ladder_kbps)):
        segments = sorted(out.glob(f"chunk-{level}-*.m4s"), key=_segment_number)
        sizes.append([float(p.stat().st_size) for p in segments])
    if len({len(row) for row in sizes}) != 1:
        raise VideoError(out, "renditions have different segment counts")
    video = make_video(list(map(float, ladder_kbps)), chunk_s, sizes, "dash-test-pattern")
    save_video_json(video, out / "video.json")
    (out / "ladder.json").write_text(json.dumps({"ladder_kbps": list(ladder_kbps)}) + "\n")


def _segment_number(path: Path) -> int:
    match = re.search(r"-(\d+)\.m4s$", path.name)
    return int(match.group(1)) if match else -1
