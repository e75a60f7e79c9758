"""prepare's core: a source -> images.npy (kept rows) + manifest and rejected tables.

Two passes over disk, one over the source: decode every candidate into a scratch memmap
(keeping only hashes and sizes in memory), decide removals and splits, then copy the kept
rows into the final memory-mappable (N, H, W, C) uint8 array chunk by chunk.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.lib.format import open_memmap

from gencurate.config import PrepareConfig
from gencurate.data.cleaning import Rejection, find_duplicates, match_detail
from gencurate.data.decoding import DecodeSettings, Records
from gencurate.data.pool import Progress, decode_source
from gencurate.data.schema import (
    HEIGHT, ID, LABEL, LABEL_NAME, MANIFEST_COLUMNS, MODE, REFERENCE, REJECTED_COLUMNS, SHA256, SOURCE, SPLIT, SPLITS, TRAIN, VALIDATION,
    WIDTH,
)
from gencurate.data.sources import Source, open_source
from gencurate.data.splits import carve_validation, labels_to_splits, split_leaks
from gencurate.io import TMP_PREFIX, atomic_path
from gencurate.npyrows import NpyRows
from gencurate.runtime import cpu_count

COPY_BYTES = 16 * 2**20  # bytes per chunk when compacting kept images (bounds peak memory)
STR_DTYPE = pd.Series([], dtype=str).dtype  # pandas >= 3: Arrow-backed `str`; pandas 2: object


@dataclass(frozen=True)
class PreparedDataset:
    """manifest: one row per kept image (MANIFEST_COLUMNS); rejected: REJECTED_COLUMNS."""

    manifest: pd.DataFrame
    rejected: pd.DataFrame
    source: Source


def source_splits(source: Source, config: PrepareConfig) -> list[str] | None:
    """The source's own split when it has one and `use_source_split` is set, else None."""
    if not config.use_source_split or any(e.split is None for e in source.entries):
        return None
    bad = sorted({e.split for e in source.entries} - set(SPLITS))
    if bad:
        raise ValueError(f"{source.description}: unknown split value(s) {bad}; expected {list(SPLITS)}")
    return [e.split for e in source.entries]


def prepare_dataset(config: PrepareConfig, *, images_path: str | Path, demo_path: str | Path,
                    workers: int | None = None) -> PreparedDataset:
    """Read, decode, clean and split `config.source`; write kept images to `images_path`.

    images_path receives an (N, S, S, C) uint8 .npy (S = image_size, C = channels), row i
    being manifest id i. `workers` overrides `config.workers` (0 = all usable cores).
    """
    source = open_source(config.source, demo_path=demo_path)
    entries = source.entries
    if not entries:
        raise ValueError(f"{source.description}: no image files found ({len(source.ignored)} other file(s))")
    n, size, channels = len(entries), config.image_size, config.channels
    settings = DecodeSettings(image_size=size, channels=channels, min_size=config.min_size,
                              max_image_pixels=config.max_image_pixels, centre_hash=config.crop_check)
    images_path = Path(images_path)
    images_path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".npy", dir=images_path.parent)
    os.close(fd)
    try:
        rows = open_memmap(scratch, mode="w+", dtype=np.uint8, shape=(n, size, size, channels))
        workers = config.workers if workers is None else workers
        records = decode_source(source, rows, settings=settings, workers=workers or cpu_count())
        kept, splits, rejected = _decide(source, records, rows, config)
        del rows
        _copy_rows(scratch, kept, images_path)
    finally:
        Path(scratch).unlink(missing_ok=True)
    manifest = _manifest(source, records.table[kept], kept, splits)
    return PreparedDataset(manifest, _rejected_table(rejected), source)


def _decide(source: Source, records: Records, rows: np.ndarray, config: PrepareConfig
            ) -> tuple[np.ndarray, np.ndarray, list[Rejection]]:
    """(kept candidate indices (K,), their splits (K,), every rejection); rows: (N, H, W, C) decoded pixels."""
    names = [e.source for e in source.entries]
    rejected = list(source.ignored)
    rejected += [Rejection(names[i], reason, detail) for i, (reason, detail) in sorted(records.failures.items())]
    fixed = source_splits(source, config)
    valid = records.table["decoded"]
    centre = records.table["centre_phash"] if config.crop_check else None
    matches = find_duplicates(records.table["digest"], valid, records.table["phash"], rows,
                              max_distance=config.near_duplicate_distance,
                              max_pixel_distance=config.near_duplicate_pixel_distance,
                              colour=config.near_duplicate_colour, centre_phashes=centre, splits=fixed)
    rejected += [Rejection(names[m.index], m.reason, match_detail(m, names, fixed)) for m in matches]
    keep = valid.copy()
    keep[[m.index for m in matches]] = False
    kept = np.flatnonzero(keep).astype(np.int64)
    if len(kept) == 0:
        raise ValueError(f"{source.description}: every image was rejected (see the reasons in rejected.parquet: "
                         f"{sorted({r.reason for r in rejected})})")
    labels = np.fromiter((source.entries[i].label for i in kept), dtype=np.int64, count=len(kept))
    if fixed is not None:
        splits = np.array([fixed[i] for i in kept], dtype=object)
    else:
        splits = labels_to_splits(labels, reference_fraction=config.reference_fraction, seed=config.seed)
    if not (splits == VALIDATION).any():
        # From the reference side when the source fixed the split, so the training set keeps its size.
        side = REFERENCE if fixed is not None else TRAIN
        splits = carve_validation(splits, labels, fraction=config.validation_fraction, seed=config.seed, side=side)
    # Cleaning kept one image per duplicate group, so this only fails on a bug: it proves it.
    # Checked on the candidates' own rows, so no kept-row copy of the images is made.
    all_splits = np.full(len(valid), None, dtype=object)
    all_splits[kept] = splits
    is_kept = np.zeros(len(valid), dtype=bool)
    is_kept[kept] = True
    leaks = split_leaks(records.table["digest"], records.table["phash"], rows, all_splits, valid=is_kept,
                        max_distance=config.near_duplicate_distance,
                        max_pixel_distance=config.near_duplicate_pixel_distance, colour=config.near_duplicate_colour,
                        centre_phashes=centre)
    if leaks:
        m = leaks[0]
        raise ValueError(f"{len(leaks)} duplicate pair(s) straddle the splits, e.g. {names[m.index]} "
                         f"({all_splits[m.index]}) and {names[m.kept]} ({all_splits[m.kept]})")
    return kept, np.asarray(splits, dtype=str), rejected


def _copy_rows(scratch: str | Path, kept: np.ndarray, images_path: Path) -> None:
    """Compact the kept rows of the scratch .npy into the final .npy, block by block.

    Plain reads and writes (`NpyRows`), not memory maps: a map would leave both files'
    pages in this process's resident set, twice the array's size.
    """
    source = NpyRows(scratch)
    step = max(1, COPY_BYTES // max(1, source.row_bytes))
    with atomic_path(images_path) as tmp:
        out = NpyRows.create(tmp, (len(kept), *source.row_shape), np.uint8)
        written = 0
        for start in Progress(range(0, len(source), step), desc="prepare: write", unit="chunk", mininterval=1.0):
            lo, hi = np.searchsorted(kept, [start, start + step])
            if hi > lo:
                out.write(written, source.read(start, start + step)[kept[lo:hi] - start])
                written += int(hi - lo)
        out.flush()
        out.close()
    source.close()


def _hex_column(digests: np.ndarray) -> pd.Series:
    """(K, B) uint8 -> a str Series of 2B-character hex strings, without a Python str per row,
    straight into the Arrow string column."""
    k, width = len(digests), 2 * digests.shape[1]
    offsets = np.arange(0, width * (k + 1), width, dtype=np.int32)
    data = np.ascontiguousarray(digests).tobytes().hex().encode()
    column = pa.StringArray.from_buffers(k, pa.py_buffer(offsets), pa.py_buffer(data))
    if isinstance(STR_DTYPE, pd.StringDtype) and STR_DTYPE.storage == "pyarrow":
        return pd.Series(pd.array(column, dtype=STR_DTYPE))
    return pd.Series(column.to_pylist(), dtype=str)


def _manifest(source: Source, table: np.ndarray, kept: np.ndarray, splits: np.ndarray) -> pd.DataFrame:
    """table: (K,) RECORD_DTYPE rows of the kept candidates `kept` (K,)."""
    entries = [source.entries[i] for i in kept]
    modes, mode_of = np.unique(table["mode"], return_inverse=True)  # a handful of distinct modes
    return pd.DataFrame({
        ID: np.arange(len(kept), dtype=np.int64),
        SOURCE: pd.Series([e.source for e in entries], dtype=str),
        SHA256: _hex_column(table["sha256"]),
        WIDTH: table["width"].astype(np.int64),
        HEIGHT: table["height"].astype(np.int64),
        MODE: pd.Series(np.array([m.decode() for m in modes], dtype=object)[mode_of.reshape(-1)], dtype=str),
        SPLIT: pd.Series(splits, dtype=str),
        LABEL: np.fromiter((e.label for e in entries), dtype=np.int64, count=len(entries)),
        LABEL_NAME: pd.Series([e.label_name for e in entries], dtype=str),
    }, columns=list(MANIFEST_COLUMNS))


def _rejected_table(rejected: list[Rejection]) -> pd.DataFrame:
    rejected = sorted(rejected, key=lambda r: (r.source, r.reason))
    return pd.DataFrame({col: pd.Series([getattr(r, col) for r in rejected], dtype=str) for col in REJECTED_COLUMNS},
                        columns=list(REJECTED_COLUMNS))


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Parquet, atomically; the same frame always gives the same bytes."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
