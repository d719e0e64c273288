"""`abr bench-neighbour` against a real server: both phases measured, the neighbour's worst
requests answered, nothing failed."""

import pytest

from abr.clients.neighbour import bench_neighbour, worst_requests
from tests.conftest import abr, last_json


def test_the_worst_requests_are_the_largest_the_settings_accept() -> None:
    (single, mpc_batch, rows, columns) = worst_requests(32, 100_000, 4096, 269)
    assert len(single[1]["ladder_kbps"]) == 32 and single[1]["n_chunks"] == 100_000
    assert len(mpc_batch[1]["players"]) == 269 and len(rows[1]["players"]) == 4096
    assert len(columns[1]["chunk_index"]) == 4096


@pytest.mark.slow
def test_the_benchmark_measures_both_phases() -> None:
    # long enough for a worst-case request to finish on a loaded two-core machine
    result = bench_neighbour(duration_s=3.0, connections=4, idle=20)
    assert result.alone_decisions_per_s > 0 and result.beside_decisions_per_s > 0
    assert result.normal_errors == 0
    assert result.noisy_requests > 0 and set(result.noisy_statuses) == {"200"}


@pytest.mark.slow
def test_the_command_prints_its_figures_as_json() -> None:
    figures = last_json(abr("bench-neighbour", "--duration", "1", "--idle", "10", "--json"))
    assert figures["normal_errors"] == 0 and "p99_ratio" in figures


@pytest.mark.slow
def test_refused_and_accepted_worst_case_requests_leave_memory_bounded() -> None:
    from abr.clients.neighbour import bench_memory

    # 20 refused requests for 32-rung, 100k-chunk videos: +500 MB if each kept its size table
    result = bench_memory(requests=20)
    assert (result.refused, result.accepted) == (20, 20)
    assert result.after_refused_mb - result.start_mb < 20
    assert result.after_accepted_mb - result.start_mb < 20
