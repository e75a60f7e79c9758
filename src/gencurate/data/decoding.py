"""Decode one candidate image (file, bytes or raw pixels) into a uint8 row and its record.

What is kept per image is one 90-byte row of a structured array (sizes, hashes;
`RECORD_DTYPE`) rather than a Python object, so the table stays small for large sources;
the pixels go straight to their row of the output array (see gencurate.data.pool).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

import numpy as np

from gencurate.data.cleaning import (
    DECOMPRESSION_BOMB,
    UNREADABLE,
    pixels_to_centre_phash,
    pixels_to_digest,
    pixels_to_phash,
)
from gencurate.data.images import Decoded, decode_image, decode_pixels
from gencurate.data.sources import FilePayload, OversizedPayload, Payload, PixelsPayload

# A file larger than 8 bytes per allowed pixel (raw 16-bit RGBA) cannot be a sane image: refused
# before it is read whole, so an archive member cannot exhaust memory either.
BYTES_PER_PIXEL_LIMIT = 8


@dataclass(frozen=True, kw_only=True)
class DecodeSettings:
    image_size: int
    channels: int
    min_size: int
    max_image_pixels: int
    centre_hash: bool  # also hash the centre region (prepare's crop check); it costs as much as the plain hash

    @property
    def max_file_bytes(self) -> int:
        return BYTES_PER_PIXEL_LIMIT * self.max_image_pixels


def _oversized(limit: int) -> str:
    return f"file larger than {limit} bytes ({BYTES_PER_PIXEL_LIMIT} bytes x prepare.max_image_pixels), not decoded"


# One row per candidate, filled by the worker that decoded it (all zero for a rejected one).
RECORD_DTYPE = np.dtype([
    ("sha256", np.uint8, 32),   # of the source bytes (raw pixels for the demo)
    ("width", np.int32), ("height", np.int32),  # of the original image
    ("mode", "S16"),            # PIL mode of the original (the longest is 7 characters)
    ("digest", np.uint8, 32),   # pixels_to_digest of the converted pixels
    ("phash", np.uint8, 8),     # pixels_to_phash
    ("centre_phash", np.uint8, 8),  # pixels_to_centre_phash
    ("decoded", np.bool_),
])


@dataclass(frozen=True, slots=True)
class Record:
    """What is kept per candidate after decoding (pixels go straight to the memmap).

    Success: sha256 (of the source bytes) and width/height/mode of the original, plus the
    pixel digest and (8,) uint8 perceptual hashes of the whole image and its centre region. Failure: `reason` and `detail` only.
    """

    index: int
    sha256: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    digest: bytes | None = None
    phash: bytes = b"\0" * 8
    centre_phash: bytes = b"\0" * 8
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
                    digest=pixels_to_digest(result.pixels), phash=pixels_to_phash(result.pixels),
                    centre_phash=pixels_to_centre_phash(result.pixels) if settings.centre_hash else b"\0" * 8)
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

    def scatter(self, indices: np.ndarray, part: Records) -> None:
        """Put a task's `part` (rows in the order of `indices`) at those candidate indices."""
        self.table[indices] = part.table
        self.failures.update({int(indices[i]): f for i, f in part.failures.items()})


def _record_row(record: Record) -> tuple:
    return (np.frombuffer(bytes.fromhex(record.sha256), np.uint8), record.width, record.height,
            record.mode.encode(), np.frombuffer(record.digest, np.uint8), np.frombuffer(record.phash, np.uint8),
            np.frombuffer(record.centre_phash, np.uint8), True)


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
