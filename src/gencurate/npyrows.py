"""Rows of a .npy file, read and written with plain file IO instead of a memory map.

A process that reads a memory-mapped file keeps every page it touched in its resident set until
it unmaps it, and RSS, cgroup limits and schedulers count those pages; seek + readinto/write holds
only the rows in hand while the page cache still serves repeated reads. Used where a stage streams
over an array of N rows (prepare's compaction and dataset card, embed's data loader and shard
merge), so memory does not grow with N.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format


def index_to_runs(index: np.ndarray) -> list[tuple[int, int, int]]:
    """(K,) int rows -> [(position in index, first row, length)] of its runs of consecutive rows."""
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if len(index) == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate([[0], breaks])
    lengths = np.diff(np.concatenate([starts, [len(index)]]))
    return [(int(p), int(index[p]), int(m)) for p, m in zip(starts, lengths)]


class NpyRows:
    """A C-order .npy file as rows: `rows[a:b]`, `rows[i]`, `rows[int array]` read from the file.

    Picklable (a DataLoader worker or spawned rank reopens the file itself); an instance
    used after a fork reopens it too, so processes never share a file position.
    """

    def __init__(self, path: str | Path, *, writable: bool = False) -> None:
        self._file, self._pid = None, -1
        self.path = str(path)
        self.writable = writable
        with open(self.path, "rb") as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = npy_format.read_array_header_2_0(f)
            self.offset = f.tell()
        if fortran or dtype.hasobject or not shape:
            raise ValueError(f"{self.path}: expected a C-order array of at least one dimension with a plain dtype")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = dtype
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * dtype.itemsize

    @classmethod
    def create(cls, path: str | Path, shape: tuple[int, ...], dtype: np.dtype | type) -> NpyRows:
        """A new zero-filled (sparse) .npy of `shape` at `path`, open for writing."""
        mapped = npy_format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)  # header + size, no pages
        del mapped
        return cls(path, writable=True)

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_file": None, "_pid": -1}

    def _handle(self):
        if self._file is None or self._pid != os.getpid():
            self._file = open(self.path, "r+b" if self.writable else "rb", buffering=0)
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __del__(self) -> None:
        self.close()

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) -> (stop - start, *row_shape), a fresh array."""
        start, stop = max(0, start), min(len(self), stop)
        out = np.empty((max(0, stop - start), *self.row_shape), dtype=self.dtype)
        if out.size:
            f = self._handle()
            f.seek(self.offset + start * self.row_bytes)
            view, done = memoryview(out.reshape(-1).view(np.uint8)), 0
            while done < out.nbytes:  # a raw read may return fewer bytes than asked
                got = f.readinto(view[done:])
                if not got:
                    raise ValueError(f"{self.path}: file ends before row {stop} (truncated?)")
                done += got
        return out

    def take(self, index: np.ndarray) -> np.ndarray:
        """(K,) int rows (any order) -> (K, *row_shape); one read per run of consecutive rows."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"{self.path}: row index out of range [0, {len(self)})")
        out = np.empty((len(index), *self.row_shape), dtype=self.dtype)
        for pos, first, length in index_to_runs(index):
            out[pos:pos + length] = self.read(first, first + length)
        return out

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            i = range(len(self))[key]
            return self.read(i, i + 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self.take(np.arange(start, stop, step))
            return self.read(start, stop)
        return self.take(np.asarray(key))

    def write(self, start: int, rows: np.ndarray) -> None:
        """Write (M, *row_shape) rows at rows [start, start + M)."""
        if not self.writable:
            raise PermissionError(f"{self.path} was opened read-only")
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape or start < 0 or start + len(rows) > len(self):
            raise ValueError(f"{self.path}: cannot write rows {rows.shape} at {start} into {self.shape}")
        f = self._handle()
        f.seek(self.offset + start * self.row_bytes)
        view, done = memoryview(rows.reshape(-1).view(np.uint8)), 0
        while done < rows.nbytes:
            done += f.write(view[done:])

    def put(self, index: np.ndarray, rows: np.ndarray) -> None:
        """rows[k] -> row index[k] for (K,) int `index`; one write per run of consecutive rows."""
        for pos, first, length in index_to_runs(index):
            self.write(first, rows[pos:pos + length])

    def flush(self) -> None:
        """Make the written rows durable (before the file is renamed into place)."""
        if self._file is not None:
            os.fsync(self._file.fileno())
