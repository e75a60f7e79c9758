"""The manifest's schema and the embedding meta's keys: the names every stage reads them by.

The manifest (paths.manifest, written by prepare) has one row per kept image, row i being row i
of paths.images and of every embedding; each embedding's <role>.json (paths.embedding_meta)
says which encoder made it from which images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Manifest columns.
ID = "id"                  # int64, equal to the row number
SOURCE = "source"          # where the image came from (path, archive member, or demo index)
SHA256 = "sha256"          # hex digest of the source bytes
WIDTH, HEIGHT, MODE = "width", "height", "mode"  # of the original image (PIL mode)
SPLIT = "split"            # one of SPLITS
LABEL = "label"            # int64 class, -1 when unknown
LABEL_NAME = "label_name"  # the class's name ("" when unnamed)
MANIFEST_COLUMNS = (ID, SOURCE, SHA256, WIDTH, HEIGHT, MODE, SPLIT, LABEL, LABEL_NAME)

# Split names: train is what selection picks from; reference the held-out set generated images are
# finally scored against; validation what training-time curves look at.
TRAIN = "train"
REFERENCE = "reference"
VALIDATION = "validation"
SPLITS = (TRAIN, REFERENCE, VALIDATION)

# Keys of the <role>.json written beside each embedding.
META_NAME = "name"
META_WEIGHTS = "weights"
META_INPUT_SIZE = "input_size"
META_DIM = "dim"
# rejected.parquet: one row per removed candidate, with the reason (gencurate.data.cleaning.REASONS).
REJECTED_SOURCE = "source"
REJECTED_REASON = "reason"
REJECTED_DETAIL = "detail"
REJECTED_COLUMNS = (REJECTED_SOURCE, REJECTED_REASON, REJECTED_DETAIL)

META_N = "n"
META_IMAGES_SHA256 = "images_sha256"
META_NORMALISED = "normalised"  # true: L2-normalised rows; false: the encoder's raw pooled features


def check_one_row_per_manifest_row(rows: int, *, manifest_rows: int, what: str, manifest_path: str | Path) -> None:
    """An array derived from the prepared images (images, an embedding) must have the manifest's row count."""
    if rows != manifest_rows:
        raise ValueError(f"{what} has {rows} rows but {manifest_path} has {manifest_rows}; rerun the stages after prepare")


def check_ids_are_rows(ids: np.ndarray, *, manifest_path: str | Path) -> None:
    """(N,) manifest ids must be 0..N-1, so that id i is row i of the images and embeddings."""
    if not np.array_equal(np.asarray(ids), np.arange(len(ids))):
        raise ValueError(f"{manifest_path}: ids must equal row numbers; rerun prepare")
