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


def sleep_and_report_pid(slot: int, seconds: float, pid_file: str) -> None:
    import os
    import time
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)


def run_jobs_then_get_killed(pid_file: str) -> None:
    run_in_processes(sleep_and_report_pid, [(60.0, pid_file)], processes=1, totals=[1], desc="test")


def test_workers_end_when_their_parent_is_killed(tmp_path):
    """A stage killed mid-run (SIGKILL, no cleanup) leaves no worker training on as an orphan."""
    import multiprocessing
    import os
    import time

    pid_file = tmp_path / "worker.pid"
    parent = multiprocessing.get_context("spawn").Process(target=run_jobs_then_get_killed, args=(str(pid_file),))
    parent.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    worker = int(pid_file.read_text())
    parent.kill()
    parent.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, 9)
    raise AssertionError("the worker outlived its killed parent")
