"""Decode a source in a pool of worker processes, straight into a memory-mapped array.

The parent reads the source (only archives pass bytes through it) and keeps at most a
bounded window of tasks in flight. Each worker opens the preallocated (N, H, W, C) .npy by
path and writes every decoded image into its row `index` itself, so pixels never travel
back through the parent: what returns, and stays in memory per image, is one 90-byte row of
a structured array (sizes, hashes; `RECORD_DTYPE`), not a Python object per image (~400 bytes
each, which made prepare's memory grow by 75 MB at 200k images). Peak memory grows with the
window and that table, not with the images.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import stat
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

from gencurate.data.cleaning import DECOMPRESSION_BOMB, UNREADABLE, pixels_to_digest, pixels_to_phash
from gencurate.data.images import Decoded, decode_image, decode_pixels
from gencurate.data.sources import BytesPayload, FilePayload, OversizedPayload, Payload, PixelsPayload, Source

# Images per task: large enough that a worker rarely waits for the parent to hand over the next
# task (each hand-off costs a wake-up of the parent, slow on busy cores), small enough that the
# tail is short and the payload bytes a task carries and the pixels it writes stay within CHUNK_BYTES.
MIN_CHUNK, MAX_CHUNK = 8, 256
CHUNK_BYTES = 4 * 2**20
TASKS_PER_WORKER = 8      # at least this many tasks per worker, so the work stays balanced
CHUNKS_PER_WORKER = 4     # in-flight window: bounds memory while keeping every worker busy
MIN_ITEMS_PER_WORKER = 32  # fewer items than this per process: not worth starting a pool
# A file larger than 8 bytes per allowed pixel (raw 16-bit RGBA) cannot be a sane image: refused
# before it is read whole, so an archive member cannot exhaust memory either.
BYTES_PER_PIXEL_LIMIT = 8


@dataclass(frozen=True, kw_only=True)
class DecodeSettings:
    image_size: int
    channels: int
    min_size: int
    max_image_pixels: int

    @property
    def max_file_bytes(self) -> int:
        return BYTES_PER_PIXEL_LIMIT * self.max_image_pixels


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


def _oversized(limit: int) -> str:
    return f"file larger than {limit} bytes ({BYTES_PER_PIXEL_LIMIT} bytes x prepare.max_image_pixels), not decoded"


# One row per candidate, filled by the worker that decoded it (all zero for a rejected one).
RECORD_DTYPE = np.dtype([
    ("sha256", np.uint8, 32),   # of the source bytes (raw pixels for the demo)
    ("width", np.int32), ("height", np.int32),  # of the original image
    ("mode", "S16"),            # PIL mode of the original (the longest is 7 characters)
    ("digest", np.uint8, 32),   # pixels_to_digest of the converted pixels
    ("phash", np.uint8, 8),     # pixels_to_phash
    ("decoded", np.bool_),
])


@dataclass(frozen=True, slots=True)
class Record:
    """What is kept per candidate after decoding (pixels go straight to the memmap).

    Success: sha256 (of the source bytes) and width/height/mode of the original, plus the
    pixel digest and (8,) uint8 perceptual hash. Failure: `reason` and `detail` only.
    """

    index: int
    sha256: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    digest: bytes | None = None
    phash: bytes = b"\0" * 8
    reason: str = ""
    detail: str = ""


def decode_payload(index: int, payload: Payload, settings: DecodeSettings) -> tuple[Record, np.ndarray | None]:
    """One candidate -> (Record, (H, W, C) uint8 pixels or None when rejected)."""
    size_limit = settings.max_file_bytes
    if isinstance(payload, OversizedPayload):
        return Record(index, reason=DECOMPRESSION_BOMB, detail=_oversized(size_limit)), None
    if isinstance(payload, PixelsPayload):
        raw = np.ascontiguousarray(payload.pixels)
        sha = hashlib.sha256(raw.tobytes()).hexdigest()
        result = decode_pixels(raw, image_size=settings.image_size, channels=settings.channels, min_size=settings.min_size)
    else:
        if isinstance(payload, FilePayload):
            try:
                if not stat.S_ISREG(os.stat(payload.path).st_mode):  # a FIFO or device would block or never end
                    return Record(index, reason=UNREADABLE, detail="not a regular file"), None
                with open(payload.path, "rb") as f:
                    # the size from the open file, so an oversized one is never read (nor a buffer
                    # of the limit's size allocated for a small one)
                    if os.fstat(f.fileno()).st_size > size_limit:
                        return Record(index, reason=DECOMPRESSION_BOMB, detail=_oversized(size_limit)), None
                    data = f.read()
            except OSError as err:
                return Record(index, reason=UNREADABLE, detail=f"{type(err).__name__}: {err.strerror or err}"), None
        else:
            data = payload.data
        if len(data) > size_limit:
            return Record(index, reason=DECOMPRESSION_BOMB, detail=_oversized(size_limit)), None
        sha = hashlib.sha256(data).hexdigest()
        result = decode_image(data, image_size=settings.image_size, channels=settings.channels,
                              min_size=settings.min_size, max_image_pixels=settings.max_image_pixels)
    if not isinstance(result, Decoded):
        return Record(index, sha256=sha, reason=result.reason, detail=result.detail), None
    record = Record(index, sha256=sha, width=result.width, height=result.height, mode=result.mode,
                    digest=pixels_to_digest(result.pixels), phash=pixels_to_phash(result.pixels))
    return record, result.pixels


@dataclass(frozen=True, eq=False)
class Records:
    """The decoding result of N candidates, column-wise.

    table: (N,) RECORD_DTYPE, row i for candidate i (`decoded` False: rejected).
    failures: {candidate index: (reason, detail)} for the rejected ones.
    """

    table: np.ndarray
    failures: dict[int, tuple[str, str]]

    @classmethod
    def empty(cls, n: int) -> Records:
        return cls(np.zeros(n, dtype=RECORD_DTYPE), {})

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> Record:
        """Candidate `index` as a `Record` (for inspection; the pipeline reads the columns)."""
        index = range(len(self))[index]
        if index in self.failures:
            return Record(index, reason=self.failures[index][0], detail=self.failures[index][1])
        row = self.table[index]
        return Record(index, sha256=row["sha256"].tobytes().hex(), width=int(row["width"]),
                      height=int(row["height"]), mode=row["mode"].decode(), digest=row["digest"].tobytes(),
                      phash=row["phash"].tobytes())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Records) and np.array_equal(self.table, other.table)
                and self.failures == other.failures)

    def scatter(self, indices: np.ndarray, part: Records) -> None:
        """Put a task's `part` (rows in the order of `indices`) at those candidate indices."""
        self.table[indices] = part.table
        self.failures.update({int(indices[i]): f for i, f in part.failures.items()})


def _record_row(record: Record) -> tuple:
    return (np.frombuffer(bytes.fromhex(record.sha256), np.uint8), record.width, record.height,
            record.mode.encode(), np.frombuffer(record.digest, np.uint8), np.frombuffer(record.phash, np.uint8), True)


def decode_into(task: list[tuple[int, Payload]], rows: np.ndarray, settings: DecodeSettings
                ) -> tuple[np.ndarray, Records]:
    """Decode each `(index, payload)` of `task`, writing its pixels to `rows[index]`.

    Returns (the task's candidate indices (T,) int64, their `Records`, row t for indices[t];
    `failures` keyed by position t).
    """
    indices = np.fromiter((index for index, _ in task), dtype=np.int64, count=len(task))
    part = Records.empty(len(task))
    for t, (index, payload) in enumerate(task):
        record, pixels = decode_payload(index, payload, settings)
        if pixels is None:
            part.failures[t] = (record.reason, record.detail)
            continue
        rows[index] = pixels
        part.table[t] = _record_row(record)
    return indices, part


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
    """fork when safe: a pool is then ready in ~15 ms with every module already imported.

    Otherwise forkserver: workers start from a clean interpreter (no inherited threads or
    locks), forked from a server that imported the decoding stack once. Each worker still
    re-runs the `__main__` script's imports (0.8 s a pool for benchmarks/prepare.py, which
    imports pandas and scikit-learn: more than decoding 10,000 small images takes), because
    preloading `__main__` is dead code in CPython up to 3.13
    (https://github.com/python/cpython/issues/126631); it is listed for the versions that fix
    it. spawn where neither exists (Windows).
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
