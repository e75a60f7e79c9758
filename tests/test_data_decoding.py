"""Task sizing, per-payload decoding and the worker pool (start method, shared rows, dying workers)."""

from __future__ import annotations

import dataclasses
import os
import threading

import numpy as np
import pytest
from numpy.lib.format import open_memmap
from PIL import Image

from gencurate.data import pool
from gencurate.data.cleaning import DECOMPRESSION_BOMB, UNREADABLE, pixels_to_centre_phash
from gencurate.data.decoding import DecodeSettings, Record, decode_payload
from gencurate.data.pool import CHUNK_BYTES, MAX_CHUNK, MIN_CHUNK, RowsFile, chunk_items, decode_source
from gencurate.data.sources import (
    BytesPayload,
    Entry,
    FilePayload,
    OversizedPayload,
    PixelsPayload,
    Source,
    open_source,
)

SETTINGS = DecodeSettings(image_size=8, channels=1, min_size=1, max_image_pixels=100, centre_hash=False)


def test_centre_hash_only_when_the_crop_check_needs_it():
    raw = np.random.default_rng(0).integers(0, 256, (8, 8, 1), dtype=np.uint8)
    off, pixels = decode_payload(0, PixelsPayload(raw), SETTINGS)
    on, _ = decode_payload(0, PixelsPayload(raw), dataclasses.replace(SETTINGS, centre_hash=True))
    assert off.centre_phash == b"\0" * 8 and on.centre_phash == pixels_to_centre_phash(pixels) != off.centre_phash
    assert on.phash == off.phash


def test_chunk_items_balances_and_bounds_memory():
    assert chunk_items(100_000, 2, 28 * 28) == MAX_CHUNK                    # many small images: cap
    assert chunk_items(100_000, 2, 128 * 128 * 3) == CHUNK_BYTES // (128 * 128 * 3)  # big images: memory
    assert chunk_items(400, 2, 64) == 25                                     # 8 tasks per worker
    assert chunk_items(20, 2, 64) == MIN_CHUNK


def test_tasks_close_at_the_byte_budget():
    big = BytesPayload(b"x" * (CHUNK_BYTES // 2))
    items = [(i, big) for i in range(5)] + [(5, FilePayload("a")), (6, FilePayload("b"))]
    sizes = [len(c) for c in pool._chunks(items, 100)]
    assert sizes == [2, 2, 3]
    assert [len(c) for c in pool._chunks([(i, FilePayload("f")) for i in range(10)], 4)] == [4, 4, 2]


def test_payload_kinds(tmp_path):
    record, pixels = decode_payload(3, OversizedPayload(10**9), SETTINGS)
    assert (record.index, record.reason, pixels) == (3, DECOMPRESSION_BOMB, None)
    record, _ = decode_payload(0, FilePayload(str(tmp_path / "gone.png")), SETTINGS)
    assert record.reason == UNREADABLE and "FileNotFoundError" in record.detail
    os.mkfifo(tmp_path / "pipe.png")  # would block a reader forever
    assert decode_payload(0, FilePayload(str(tmp_path / "pipe.png")), SETTINGS)[0].detail == "not a regular file"
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\0" * SETTINGS.max_file_bytes)
    assert decode_payload(0, FilePayload(str(tmp_path / "big.png")), SETTINGS)[0].reason == DECOMPRESSION_BOMB
    raw = np.arange(64, dtype=np.uint8).reshape(8, 8)
    record, pixels = decode_payload(1, PixelsPayload(raw), SETTINGS)
    assert record.reason == "" and record.mode == "L" and (record.width, record.height) == (8, 8)
    np.testing.assert_array_equal(pixels[..., 0], raw)
    assert len(record.digest) == 32 and len(record.phash) == 8


def _folder_source(root, n=96):
    """n small images (PNG and JPEG, two exact copies) plus a truncated and a non-image file."""
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = np.repeat(np.repeat(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), 6, 0), 6, 1)
        save = Image.fromarray(pixels).save
        save(root / f"{i:03d}.png") if i % 2 else save(root / f"{i:03d}.jpg", quality=90)
    (root / "zz-copy.png").write_bytes((root / "001.png").read_bytes())
    (root / "zz-cut.png").write_bytes((root / "003.png").read_bytes()[:60])
    (root / "zz-fake.jpg").write_text("not a jpeg")
    return open_source(str(root), demo_path="unused")


def _record(records, index):
    """Candidate `index` of `records` as a `Record`, read back from its table row or failure."""
    index = range(len(records))[index]
    if index in records.failures:
        return Record(index, reason=records.failures[index][0], detail=records.failures[index][1])
    row = records.table[index]
    return Record(index, sha256=row["sha256"].tobytes().hex(), width=int(row["width"]), height=int(row["height"]),
                  mode=row["mode"].decode(), digest=row["digest"].tobytes(), phash=row["phash"].tobytes())


def _decode(source, tmp_path, workers, name):
    settings = DecodeSettings(image_size=16, channels=3, min_size=4, max_image_pixels=10**6, centre_hash=True)
    rows = open_memmap(tmp_path / f"{name}.npy", mode="w+", dtype=np.uint8, shape=(len(source.entries), 16, 16, 3))
    records = decode_source(source, rows, settings=settings, workers=workers)
    rows.flush()
    return records, (tmp_path / f"{name}.npy").read_bytes()


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_pool_equals_one_process(tmp_path, monkeypatch, method):
    """Workers write their rows into the shared file themselves; records and bytes match the in-process loop."""
    if method == "fork" and not pool.fork_is_safe():
        pytest.skip("this test process has other threads or torch loaded: the pool would not fork here either")
    (tmp_path / "src").mkdir()
    source = _folder_source(tmp_path / "src")
    single = _decode(source, tmp_path, 1, "single")
    threads = threading.active_count()
    monkeypatch.setattr(pool, "fork_is_safe", lambda: method == "fork")
    assert pool.pool_context().get_start_method() == method
    pooled = _decode(source, tmp_path, 2, "pool")
    assert pooled[1] == single[1]
    assert np.array_equal(pooled[0].table, single[0].table) and pooled[0].failures == single[0].failures
    records = single[0]
    assert len(records) == len(source.entries) and int(records.table["decoded"].sum()) == len(records) - 2
    assert sorted(_record(records, i).reason for i in records.failures) == ["not_image", "truncated"]
    first, copy = _record(records, 1), _record(records, -3)
    assert first.digest == copy.digest and first.sha256 == copy.sha256  # zz-copy.png
    assert threading.active_count() == threads  # no progress-bar monitor or pool thread left behind


class _KillsTheWorker:
    """Unpickled in a worker as a call to os._exit: the worker dies mid-task, as if killed for memory."""

    def __reduce__(self):
        return os._exit, (3,)


@pytest.mark.parametrize("fork", [True, False])
def test_a_dying_worker_is_a_clear_error(tmp_path, monkeypatch, fork):
    monkeypatch.setattr(pool, "fork_is_safe", lambda: fork)
    items = [(i, PixelsPayload(np.zeros((8, 8), np.uint8))) for i in range(63)] + [(63, FilePayload(_KillsTheWorker()))]
    source = Source(kind="test", description="test", entries=[Entry(f"e{i}") for i in range(64)],
                    payloads=lambda max_bytes: iter(items))
    rows = open_memmap(tmp_path / "rows.npy", mode="w+", dtype=np.uint8, shape=(64, 8, 8, 1))
    with pytest.raises(RuntimeError, match="a prepare worker process died"):
        decode_source(source, rows, settings=SETTINGS, workers=2)


def test_fork_only_without_other_threads():
    if not pool.fork_is_safe():
        pytest.skip("this test process already has other threads or torch loaded")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not pool.fork_is_safe()
    finally:
        stop.set()
        thread.join()
    assert pool.fork_is_safe()


def test_rows_must_be_a_file_backed_memmap(tmp_path):
    with pytest.raises(TypeError, match="memmap"):
        RowsFile.of(np.zeros((2, 8, 8, 1), np.uint8))
    rows = open_memmap(tmp_path / "rows.npy", mode="w+", dtype=np.uint8, shape=(2, 8, 8, 1))
    reopened = RowsFile.of(rows).open()
    reopened[1] = 7
    reopened.flush()
    assert np.load(tmp_path / "rows.npy")[1].min() == 7
