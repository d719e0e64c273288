"""The scalar reference simulator, written straight from the four steps of docs/design.md.

One session, one chunk at a time, walking the trace interval by interval like Pensieve's
`sim/env.py`. It is slow and obvious on purpose: the vectorised simulator is checked against it,
and `abr bench-sim` measures its speed as the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ChunkOutcome:
    transfer_s: float
    download_s: float
    rebuffer_s: float
    sleep_s: float
    buffer_s: float


class ReferenceSession:
    def __init__(
        self,
        time_s: list[float],
        mbps: list[float],
        chunk_s: float,
        start_sample: int = 1,
        rtt_s: float = 0.08,
        payload_fraction: float = 0.95,
        buffer_cap_s: float = 60.0,
        sleep_quantum_s: float = 0.5,
    ) -> None:
        self.time_s, self.mbps = time_s, mbps
        self.chunk_s = chunk_s
        self.rtt_s, self.payload_fraction = rtt_s, payload_fraction
        self.buffer_cap_s, self.sleep_quantum_s = buffer_cap_s, sleep_quantum_s
        self.ptr = start_sample
        self.clock_s = time_s[start_sample - 1]
        self.buffer_s = 0.0

    def _advance_ptr(self) -> None:
        self.clock_s = self.time_s[self.ptr]
        self.ptr += 1
        if self.ptr >= len(self.mbps):  # wrap to sample 1, time 0
            self.ptr = 1
            self.clock_s = 0.0

    def fetch(self, size_bytes: float, noise: float = 1.0) -> ChunkOutcome:
        # 1. download along the trace
        sent_bytes = 0.0
        transfer_s = 0.0
        while True:
            bytes_per_s = self.mbps[self.ptr] * 1e6 / 8.0
            duration_s = self.time_s[self.ptr] - self.clock_s
            payload = bytes_per_s * duration_s * self.payload_fraction
            if sent_bytes + payload > size_bytes:
                fraction_s = (size_bytes - sent_bytes) / bytes_per_s / self.payload_fraction
                transfer_s += fraction_s
                self.clock_s += fraction_s
                break
            sent_bytes += payload
            transfer_s += duration_s
            self._advance_ptr()
        download_s = (transfer_s + self.rtt_s) * noise
        # 2. rebuffer and buffer
        rebuffer_s = max(download_s - self.buffer_s, 0.0)
        self.buffer_s = max(self.buffer_s - download_s, 0.0) + self.chunk_s
        # 3. sleep above the cap, skipping that stretch of the trace
        sleep_s = 0.0
        if self.buffer_s > self.buffer_cap_s:
            excess_s = self.buffer_s - self.buffer_cap_s
            sleep_s = math.ceil(excess_s / self.sleep_quantum_s) * self.sleep_quantum_s
            self.buffer_s -= sleep_s
            remaining_s = sleep_s
            while True:
                duration_s = self.time_s[self.ptr] - self.clock_s
                if duration_s > remaining_s:
                    self.clock_s += remaining_s
                    break
                remaining_s -= duration_s
                self._advance_ptr()
        return ChunkOutcome(transfer_s, download_s, rebuffer_s, sleep_s, self.buffer_s)
