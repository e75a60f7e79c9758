"""Train / reference / validation splits, and the check that no duplicate straddles two of them.

train: what selection picks from; reference: the held-out set generated images are finally scored
against; validation: what training-time curves look at, so the reference stays untouched until
the final metrics.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from gencurate.data.cleaning import LEAK, Match, find_duplicates
from gencurate.data.schema import REFERENCE, SPLITS, TRAIN, VALIDATION  # noqa: F401  (the split names)


def _draw(rows: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(n,) rows drawn from `rows` (R,), stratified by `labels` (R,) when every class can give one
    to both sides, else uniformly. Deterministic for a fixed seed."""
    classes, counts = np.unique(labels, return_counts=True)
    stratify = None
    if (labels >= 0).all() and len(classes) > 1 and counts.min() >= 2 and min(n, len(rows) - n) >= len(classes):
        stratify = labels
    _, drawn = train_test_split(rows, test_size=n, random_state=seed, stratify=stratify)
    return np.asarray(drawn, dtype=np.int64)


def labels_to_splits(labels: np.ndarray, *, reference_fraction: float, seed: int) -> np.ndarray:
    """(N,) int64 labels (-1 = unknown) -> (N,) str splits with round(N * fraction) references.

    Stratified by label when every class has at least two images and both splits can hold one
    of each class (the held-out set then has the class mix of the training set); otherwise a
    uniform random split. Deterministic for a fixed seed.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    n_reference = round(n * reference_fraction)
    splits = np.full(n, TRAIN, dtype=object)
    if n_reference == 0:
        return splits
    if n_reference >= n:
        raise ValueError(f"prepare.reference_fraction {reference_fraction} leaves no training images out of {n}")
    splits[_draw(np.arange(n), labels, n_reference, seed)] = REFERENCE
    return splits


def carve_validation(splits: np.ndarray, labels: np.ndarray, *, fraction: float, seed: int, side: str) -> np.ndarray:
    """(N,) splits -> a copy where round(N * fraction) images of split `side` became VALIDATION.

    labels: (N,) int64 (-1 = unknown), used to stratify as in `labels_to_splits`. `side` is
    REFERENCE when the source ships its own train/reference split (the training set then keeps
    its size), TRAIN otherwise.
    """
    splits = np.asarray(splits, dtype=object).copy()
    n_validation = round(len(splits) * fraction)
    if n_validation == 0:
        return splits
    rows = np.flatnonzero(splits == side)
    if n_validation >= len(rows):
        raise ValueError(f"prepare.validation_fraction {fraction} asks for {n_validation} validation images but the "
                         f"{side} split holds only {len(rows)}")
    seed_words = np.random.SeedSequence([seed, 1]).generate_state(1)[0]  # apart from the reference draw's seed
    splits[_draw(rows, np.asarray(labels, dtype=np.int64)[rows], n_validation, int(seed_words))] = VALIDATION
    return splits


def split_leaks(
    digests: np.ndarray, phashes: np.ndarray, images: np.ndarray | None, splits: np.ndarray, *, max_distance: int,
    max_pixel_distance: float, colour: bool, centre_phashes: np.ndarray | None, valid: np.ndarray | None = None,
) -> list[Match]:
    """Pairs of images in different splits that are exact or near duplicates (empty = leak-free).

    digests: (N, K) uint8 pixel digests; phashes: (N, 8) uint8 packed perceptual hashes; images:
    (N, H, W, C) uint8 pixels (read only for hash-near pairs; None with max_pixel_distance -1);
    centre_phashes: (N, 8) uint8 centre-region hashes (crop check) or None;
    splits: (N,) split names; valid: (N,) bool rows to check (default all). The duplicate
    criteria are prepare's (`cleaning.find_duplicates`).
    """
    valid = np.ones(len(splits), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    matches = find_duplicates(digests, valid, phashes, images, max_distance=max_distance,
                              max_pixel_distance=max_pixel_distance, colour=colour,
                              centre_phashes=centre_phashes, splits=list(np.asarray(splits, dtype=object)))
    return [m for m in matches if m.reason == LEAK]
