"""Player telemetry (opt-in, `ABR_TELEMETRY=path`): every chunk report a session applies, as one
JSON line, so that the networks real players meet can become training traces
(`abr traces from-telemetry`). Session ids are logged only as a keyed hash (HMAC-SHA256 with
`ABR_TELEMETRY_KEY`, the same key on every replica so that a session keeps one id), and a
sampled share of sessions is logged, each wholly or not at all.

A line: {"session", "chunk", "level", "size_bytes", "download_s", "buffer_s", "rebuffer_s",
"at_s" (Unix time the report was applied), "gap_s" (wall-clock seconds since the session's
previous report, null for its first)}. Each line is one `write` to a file opened for appending,
so workers and processes on one host can share the file. A line that cannot be written is
counted (`abr_telemetry_failures_total`) and logged, and the decision is answered all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from service.log import TELEMETRY_FAILED, log
from service.sessions import Report
from service.settings import ServiceSettings

SAMPLE_RESOLUTION = 2**32


class Telemetry:
    def __init__(self, path: Path, sample: float, key: str) -> None:
        self.path, self.sample, self.key = path, sample, key.encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise ValueError(
                f"ABR_TELEMETRY={path}: cannot open it for appending ({exc.strerror})"
            ) from None
        self.lines = 0
        self.failures = 0  # lines not written (a full disk, a lost mount): decisions go on

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Telemetry | None:
        if settings.telemetry is None:
            return None
        assert settings.telemetry_key is not None  # the settings check it
        return cls(settings.telemetry, settings.telemetry_sample, settings.telemetry_key)

    def hashed(self, session_id: str) -> str:
        return hmac.new(self.key, session_id.encode(), hashlib.sha256).hexdigest()[:32]

    def record(
        self, session_id: str, report: Report, at_s: float, previous_at_s: float | None
    ) -> bool:
        """False when the line could not be written (it is logged; the report stands)."""
        hashed = self.hashed(session_id)
        if int(hashed[:8], 16) >= self.sample * SAMPLE_RESOLUTION:
            return True
        index, level, size_bytes, download_s, buffer_s, rebuffer_s = report
        line = {
            "session": hashed,
            "chunk": index,
            "level": level,
            "size_bytes": size_bytes,
            "download_s": download_s,
            "buffer_s": buffer_s,
            "rebuffer_s": rebuffer_s,
            "at_s": round(at_s, 6),
            "gap_s": None if previous_at_s is None else round(at_s - previous_at_s, 6),
        }
        try:
            os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
        except OSError as exc:
            self.failures += 1
            log.warning("%s: %s: %s", TELEMETRY_FAILED, self.path, exc.strerror)
            return False
        self.lines += 1
        return True

    def close(self) -> None:
        os.close(self._fd)
