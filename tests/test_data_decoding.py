"""Task sizing and per-payload decoding of the worker pool."""

from __future__ import annotations

import os

import numpy as np

from gencurate.data import decoding
from gencurate.data.cleaning import DECOMPRESSION_BOMB, UNREADABLE
from gencurate.data.decoding import CHUNK_BYTES, MAX_CHUNK, MIN_CHUNK, DecodeSettings, chunk_items, decode_payload
from gencurate.data.sources import BytesPayload, FilePayload, OversizedPayload, PixelsPayload

SETTINGS = DecodeSettings(image_size=8, channels=1, min_size=1, max_image_pixels=100)


def test_chunk_items_balances_and_bounds_memory():
    assert chunk_items(100_000, 2, 28 * 28) == MAX_CHUNK                    # many small images: cap
    assert chunk_items(100_000, 2, 128 * 128 * 3) == CHUNK_BYTES // (128 * 128 * 3)  # big images: memory
    assert chunk_items(400, 2, 64) == 25                                     # 8 tasks per worker
    assert chunk_items(20, 2, 64) == MIN_CHUNK


def test_tasks_close_at_the_byte_budget():
    big = BytesPayload(b"x" * (CHUNK_BYTES // 2))
    items = [(i, big) for i in range(5)] + [(5, FilePayload("a")), (6, FilePayload("b"))]
    sizes = [len(c) for c in decoding._chunks(items, 100)]
    assert sizes == [2, 2, 3]
    assert [len(c) for c in decoding._chunks([(i, FilePayload("f")) for i in range(10)], 4)] == [4, 4, 2]


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
