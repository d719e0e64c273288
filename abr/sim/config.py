"""The simulator's constants (Pensieve's, every one configurable): a module of its own, so that
reading them does not load the simulator's compiled kernel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimConfig:
    rtt_s: float = 0.08  # Pensieve LINK_RTT
    payload_fraction: float = 0.95  # PACKET_PAYLOAD_PORTION
    buffer_cap_s: float = 60.0  # BUFFER_THRESH
    sleep_quantum_s: float = 0.5  # DRAIN_BUFFER_SLEEP_TIME
    noise_low: float = 0.9  # multiplicative delay noise in training mode
    noise_high: float = 1.1
    default_level: int = 1  # the "last level" a session starts with
    history_len: int = 8  # chunks of throughput / delay history kept for the player
