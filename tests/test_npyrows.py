"""NpyRows: reads and writes .npy rows like numpy indexing does, without a memory map."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from gencurate.npyrows import NpyRows, index_to_runs


def test_index_to_runs_by_hand():
    assert index_to_runs(np.array([3, 4, 5, 9, 10, 2])) == [(0, 3, 3), (3, 9, 2), (5, 2, 1)]
    assert index_to_runs(np.array([7, 7])) == [(0, 7, 1), (1, 7, 1)]
    assert index_to_runs(np.array([], dtype=np.int64)) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_reads_match_numpy_indexing(tmp_path, dtype):
    array = (np.arange(7 * 3 * 2) % 251).astype(dtype).reshape(7, 3, 2)
    np.save(tmp_path / "a.npy", array)
    rows = NpyRows(tmp_path / "a.npy")
    assert (len(rows), rows.shape, rows.dtype, rows.ndim) == (7, (7, 3, 2), np.dtype(dtype), 3)
    keys = [0, 6, -1, slice(None), slice(2, 5), slice(5, 99), slice(4, 2), slice(None, None, 3),
            np.array([6, 0, 1, 2, 2]), [3, 4], np.array([], dtype=np.int64)]
    for key in keys:
        np.testing.assert_array_equal(rows[key], array[key])
        assert rows[key].dtype == array.dtype
    with pytest.raises(IndexError):
        rows[7]
    with pytest.raises(IndexError):
        rows[np.array([1, 7])]


def test_written_rows_read_back_with_numpy(tmp_path):
    rows = NpyRows.create(tmp_path / "out.npy", (6, 4), np.float32)
    values = np.arange(24, dtype=np.float32).reshape(6, 4)
    rows.write(0, values[:2])
    rows.put(np.array([5, 3, 4]), values[[5, 3, 4]])
    rows.flush()
    rows.close()
    expected = values.copy()
    expected[2] = 0  # never written: zero-filled
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    with pytest.raises(ValueError, match="cannot write"):
        NpyRows(tmp_path / "out.npy", writable=True).write(5, values[:2])
    with pytest.raises(PermissionError):
        NpyRows(tmp_path / "out.npy").write(0, values[:1])


def test_bad_files_are_clear_errors(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="C-order"):
        NpyRows(tmp_path / "f.npy")
    np.save(tmp_path / "t.npy", np.zeros((10, 8), np.uint8))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-20])
    with pytest.raises(ValueError, match="truncated"):
        NpyRows(tmp_path / "t.npy")[5:10]


def test_pickled_and_forked_copies_open_their_own_file(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(40, dtype=np.uint8).reshape(10, 4))
    rows = NpyRows(tmp_path / "a.npy")
    rows[0]
    clone = pickle.loads(pickle.dumps(rows))
    np.testing.assert_array_equal(clone[9], [36, 37, 38, 39])
    if not hasattr(os, "fork"):
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reads through the inherited object while the parent reads too
        os.close(r)
        os.write(w, rows[3:5].tobytes())
        os._exit(0)
    os.close(w)
    np.testing.assert_array_equal(rows[7], [28, 29, 30, 31])
    child = os.read(r, 64)
    os.waitpid(pid, 0)
    assert child == np.arange(12, 20, dtype=np.uint8).tobytes()


STATUS = Path("/proc/self/status")


def _rss_file_kb() -> int | None:
    """RssFile (kB) of /proc/self/status: this process's resident file-backed pages; None without
    Linux /proc or on kernels before 4.5 (no RssFile field)."""
    if not STATUS.is_file():
        return None
    for line in STATUS.read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    return None


@pytest.mark.skipif(_rss_file_kb() is None, reason="needs the RssFile field of Linux /proc/self/status (kernel >= 4.5)")
def test_a_full_pass_keeps_no_file_pages_resident(tmp_path):
    """The reason NpyRows exists: a memmap pass leaves the file's pages in RSS, a read pass does not.

    Depends on Linux: the RssFile field of /proc/self/status (kernel >= 4.5), the kernel counting a
    read file's page-cache pages in RSS only while they are mapped, and nothing else in this
    (single-threaded) test mapping files meanwhile."""
    mb = 48
    np.save(tmp_path / "big.npy", np.ones((mb * 16, 64 * 1024), np.uint8))
    rows = NpyRows(tmp_path / "big.npy")
    before = _rss_file_kb()
    total = sum(int(rows[i:i + 64].sum(dtype=np.int64)) for i in range(0, len(rows), 64))
    read_growth = _rss_file_kb() - before
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    before = _rss_file_kb()
    assert sum(int(mapped[i:i + 64].sum(dtype=np.int64)) for i in range(0, len(mapped), 64)) == total == mb * 2**20
    mapped_growth = _rss_file_kb() - before
    assert mapped_growth > mb * 1024 // 2  # the measurement sees file pages
    assert read_growth < 4 * 1024
