"""Unit constants and the physical constants of Pensieve's simulator.

Seconds, bytes, kbps for bitrates, Mbps for trace bandwidth.
"""

BITS_PER_BYTE = 8.0
BITS_PER_MBIT = 1e6  # Pensieve's B_IN_MB
BITS_PER_KBIT = 1e3
PACKET_SIZE_BYTES = 1500  # one mahimahi delivery opportunity
MS_PER_S = 1000.0


def throughput_kbps(size_bytes, download_s):  # type: ignore[no-untyped-def,unused-ignore]
    """What a player measures for a chunk: its size over its download time (RTT included),
    in kbps; for numbers and arrays alike (and compiled into the simulator's numba step)."""
    return size_bytes * BITS_PER_BYTE / BITS_PER_KBIT / download_s
