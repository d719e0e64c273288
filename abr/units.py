"""Unit conversions and the physical constants of Pensieve's simulator.

Seconds, bytes, kbps for bitrates, Mbps for trace bandwidth.
"""

BITS_PER_BYTE = 8.0
BITS_PER_MBIT = 1e6  # Pensieve's B_IN_MB
BITS_PER_KBIT = 1e3
PACKET_SIZE_BYTES = 1500  # one mahimahi delivery opportunity
MS_PER_S = 1000.0


def mbps_to_bytes_per_s(mbps: float) -> float:
    return mbps * BITS_PER_MBIT / BITS_PER_BYTE


def kbps_to_bytes_per_s(kbps: float) -> float:
    return kbps * BITS_PER_KBIT / BITS_PER_BYTE


def bytes_per_s_to_kbps(bytes_per_s: float) -> float:
    return bytes_per_s * BITS_PER_BYTE / BITS_PER_KBIT
