"""Jobs in spawned worker processes: results in order, progress reaches the parent, failures surface."""

from __future__ import annotations

import pytest

from gencurate.processes import report_progress, run_in_processes, threads_per_process

pytestmark = pytest.mark.multiprocess


def square_and_report(slot: int, value: int) -> tuple[int, int]:
    import torch

    report_progress(slot, value)
    return value * value, torch.get_num_threads()


def fail_on_two(slot: int, value: int) -> int:
    if value == 2:
        raise ValueError("planted failure")
    return value


def test_results_come_back_in_job_order_with_the_thread_share():
    results = run_in_processes(square_and_report, [(3,), (4,), (5,)], processes=2, totals=[3, 4, 5], desc="test")
    assert [r[0] for r in results] == [9, 16, 25]
    assert {r[1] for r in results} == {threads_per_process(2)}


def test_a_failing_job_raises_in_the_parent():
    with pytest.raises(ValueError, match="planted failure"):
        run_in_processes(fail_on_two, [(1,), (2,)], processes=2, totals=[1, 1], desc="test")


def test_report_progress_outside_a_worker_is_a_no_op():
    report_progress(0, 5)
