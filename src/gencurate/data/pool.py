"""Decode a source in a pool of worker processes, straight into a memory-mapped array.

The parent reads the source (only archives pass bytes through it) and keeps at most a
bounded window of tasks in flight. Each worker opens the preallocated (N, H, W, C) .npy by
path and writes every decoded image into its row `index` itself, so pixels never travel
back through the parent: what returns is each image's `RECORD_DTYPE` row. Peak memory grows
with the window and that table, not with the images.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import BaseContext

import numpy as np
from tqdm import tqdm

from gencurate.data.decoding import DecodeSettings, Records, decode_into
from gencurate.data.sources import BytesPayload, Payload, PixelsPayload, Source

# Images per task: large enough that a worker rarely waits for the parent to hand over the next
# task (each hand-off costs a wake-up of the parent, slow on busy cores), small enough that the
# tail is short and the payload bytes a task carries and the pixels it writes stay within CHUNK_BYTES.
MIN_CHUNK, MAX_CHUNK = 8, 256
CHUNK_BYTES = 4 * 2**20
TASKS_PER_WORKER = 8      # at least this many tasks per worker, so the work stays balanced
CHUNKS_PER_WORKER = 4     # in-flight window: bounds memory while keeping every worker busy
MIN_ITEMS_PER_WORKER = 32  # fewer items than this per process: not worth starting a pool


class Progress(tqdm):
    """A tqdm bar that starts no monitor thread: a live thread makes forking the pool unsafe."""

    monitor_interval = 0


@dataclass(frozen=True)
class RowsFile:
    """Where decoded rows go: an (N, H, W, C) uint8 array at `offset` bytes into the file `path`.

    Sent to the workers instead of the array, so each maps the file itself and writes its
    rows in place (MAP_SHARED: the parent's own map sees them through the page cache).
    """

    path: str
    offset: int
    shape: tuple[int, ...]

    @classmethod
    def of(cls, rows: np.memmap) -> RowsFile:
        if not isinstance(rows, np.memmap) or rows.filename is None or rows.dtype != np.uint8:
            raise TypeError("rows must be a file-backed uint8 np.memmap (e.g. numpy.lib.format.open_memmap)")
        return cls(str(rows.filename), rows.offset, rows.shape)

    def open(self) -> np.memmap:
        return np.memmap(self.path, dtype=np.uint8, mode="r+", offset=self.offset, shape=self.shape)


def _decode_into_file(task: list[tuple[int, Payload]], rows_file: RowsFile, settings: DecodeSettings
                      ) -> tuple[np.ndarray, Records]:
    """The worker's side: map the rows file for this task only, so a worker holds no pages between tasks."""
    rows = rows_file.open()
    try:
        return decode_into(task, rows, settings)
    finally:
        del rows  # unmaps; the written pages stay in the page cache (and reach the file)


def chunk_items(n_items: int, workers: int, image_bytes: int) -> int:
    """Images per task for `n_items` decoded images of `image_bytes` each, spread over `workers`."""
    by_balance = math.ceil(n_items / (workers * TASKS_PER_WORKER))
    return max(MIN_CHUNK, min(MAX_CHUNK, CHUNK_BYTES // image_bytes, by_balance))


def _payload_bytes(payload: Payload) -> int:
    if isinstance(payload, BytesPayload):
        return len(payload.data)
    return payload.pixels.nbytes if isinstance(payload, PixelsPayload) else 0


def _chunks(payloads: Iterable[tuple[int, Payload]], size: int) -> Iterator[list[tuple[int, Payload]]]:
    """Tasks of at most `size` items and (past the first item) CHUNK_BYTES of payload."""
    chunk, nbytes = [], 0
    for item in payloads:
        chunk.append(item)
        nbytes += _payload_bytes(item[1])
        if len(chunk) >= size or nbytes >= CHUNK_BYTES:
            yield chunk
            chunk, nbytes = [], 0
    if chunk:
        yield chunk


def fork_is_safe() -> bool:
    """Whether a worker may be forked from this process as it is now.

    A forked child inherits every lock in the state it was in, so fork is safe only when no
    other Python thread is alive (one could hold, e.g., the logging or an import lock) and
    torch is not loaded (its OpenMP and CUDA state do not survive a fork). Native BLAS helper
    threads re-initialise after a fork (pthread_atfork) and do not count; Python >= 3.12 still
    emits a DeprecationWarning for them. ProcessPoolExecutor forks all its workers before it
    starts its own threads (https://github.com/python/cpython/issues/90622).
    """
    return ("fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
            and "torch" not in sys.modules)


def pool_context() -> BaseContext:
    """fork when safe: a pool is then ready at once, with every module already imported.

    Otherwise forkserver: workers start from a clean interpreter (no inherited threads or
    locks), forked from a server that imported the decoding stack once. Each worker still
    re-runs the `__main__` script's imports, because preloading `__main__` is dead code in
    CPython up to 3.13 (https://github.com/python/cpython/issues/126631); it is listed for the
    versions that fix it. spawn where neither exists (Windows).
    """
    if fork_is_safe():
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", __name__, "scipy.fftpack"])
        return ctx
    return multiprocessing.get_context("spawn")


def _decoded_tasks(payloads: Iterable[tuple[int, Payload]], rows: np.memmap, settings: DecodeSettings,
                   workers: int, chunk: int = MAX_CHUNK) -> Iterator[tuple[np.ndarray, Records]]:
    """Decode every payload into `rows`; yields each task's (indices, Records), in task order."""
    tasks = _chunks(payloads, chunk)
    rows_file = RowsFile.of(rows)
    if workers == 1:
        for task in tasks:  # mapped per task here too, so this process holds no written pages
            yield _decode_into_file(task, rows_file, settings)
        return
    # An executor (unlike multiprocessing.Pool) fails loudly with BrokenProcessPool if a worker
    # dies, e.g. killed for memory.
    try:
        with ProcessPoolExecutor(workers, mp_context=pool_context()) as pool:
            window: deque = deque()
            for task in tasks:
                window.append(pool.submit(_decode_into_file, task, rows_file, settings))
                if len(window) >= CHUNKS_PER_WORKER * workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
    except BrokenProcessPool as err:
        raise RuntimeError(f"a prepare worker process died ({err}); if it ran out of memory, lower "
                           "prepare.workers or prepare.max_image_pixels") from err


def decode_source(source: Source, rows: np.memmap, *, settings: DecodeSettings, workers: int) -> Records:
    """Decode every entry of `source` into `rows` ((N, H, W, C) uint8 memmap of a .npy file).

    workers: processes (1 = decode in this process); capped so that each gets enough images.

    Returns the `Records` of every entry, in entry order. Row `i` holds entry `i`'s pixels
    when it was decoded; rows of rejected entries are left untouched.
    """
    n = len(source.entries)
    records, seen = Records.empty(n), np.zeros(n, dtype=bool)
    workers = max(1, min(workers, math.ceil(n / MIN_ITEMS_PER_WORKER)))
    chunk = chunk_items(n, workers, int(np.prod(rows.shape[1:])))
    tasks = _decoded_tasks(source.payloads(settings.max_file_bytes), rows, settings, workers, chunk)
    with Progress(total=n, desc="prepare: decode", unit="img", mininterval=1.0) as bar:
        for indices, part in tasks:
            records.scatter(indices, part)
            seen[indices] = True
            bar.update(len(indices))
    missing = np.flatnonzero(~seen)
    if len(missing):
        raise ValueError(f"{len(missing)} listed file(s) were not read from the source "
                         f"(first: {source.entries[missing[0]].source}); "
                         "did the source change while it was being prepared?")
    return records
