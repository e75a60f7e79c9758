"""Independent jobs (the training runs of one method's seeds) in separate processes, each on its share
of the cores, under one progress bar.

Small models use a CPU core poorly from two threads (operator overhead dominates), so two
one-thread processes train two models faster than one two-thread process trains them in turn
(benchmarks/concurrent_seeds.py).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any

from tqdm.auto import tqdm

from gencurate.runtime import cpu_count, quiet_lightning

POLL_SECONDS = 0.5
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)

_progress: Any = None  # the shared step counters, set in each worker process


def threads_per_process(processes: int) -> int:
    """Torch threads for each of `processes` workers: an equal share of this process's cores."""
    return max(1, cpu_count() // processes)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to end this worker when its parent dies (killed stage, Ctrl-C elsewhere), so no
    orphan keeps training and writing into the outputs of a run that was stopped."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown still ends idle workers
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _initialise_worker(progress: Any, threads: int, parent_pid: int) -> None:
    global _progress
    _die_with_parent(parent_pid)
    _progress = progress
    import torch

    torch.set_num_threads(threads)
    quiet_lightning()


def report_progress(slot: int, done: int) -> None:
    """Tell the parent's progress bar that job `slot` has done `done` units (no-op outside a worker)."""
    if _progress is not None:
        _progress[slot] = done


def run_in_processes(
    job: Callable[..., Any], jobs: Sequence[tuple], *, processes: int, totals: Sequence[int], desc: str
) -> list[Any]:
    """Call `job(slot, *args)` for each args tuple of `jobs` in up to `processes` spawned processes
    with `threads_per_process(processes)` torch threads each; return the results in order.

    `totals[slot]` is the work of job `slot` (the bar's units); a job reports its progress with
    `report_progress(slot, done)`. The first failure is raised once every started job has ended.
    """
    context = multiprocessing.get_context("spawn")  # no fork after torch's thread pools exist
    progress = context.Array("q", len(jobs), lock=False)
    with (
        ProcessPoolExecutor(min(processes, len(jobs)), mp_context=context, initializer=_initialise_worker,
                            initargs=(progress, threads_per_process(processes), os.getpid())) as pool,
        tqdm(total=int(sum(totals)), desc=desc, unit="step") as bar,
    ):
        futures = [pool.submit(job, slot, *args) for slot, args in enumerate(jobs)]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            bar.update(int(sum(progress)) - bar.n)
            if any(f.done() and f.exception() is not None for f in futures):
                for f in pending:
                    f.cancel()
                wait(pending)
                break
        return [f.result() for f in futures]
