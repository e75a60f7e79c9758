"""Train / reference split: the reference split is the held-out set generated images are scored against."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

TRAIN = "train"
REFERENCE = "reference"
SPLITS = (TRAIN, REFERENCE)


def labels_to_splits(labels: np.ndarray, *, reference_fraction: float, seed: int) -> np.ndarray:
    """(N,) int64 labels (-1 = unknown) -> (N,) str splits with round(N * fraction) references.

    Stratified by label when every class has at least two images and both splits can hold one
    of each class (the held-out set then has the class mix of the training set); otherwise a
    uniform random split. Deterministic for a fixed seed.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    n_reference = int(round(n * reference_fraction))
    splits = np.full(n, TRAIN, dtype=object)
    if n_reference == 0:
        return splits
    if n_reference >= n:
        raise ValueError(f"prepare.reference_fraction {reference_fraction} leaves no training images out of {n}")
    classes, counts = np.unique(labels, return_counts=True)
    stratify = None
    if (labels >= 0).all() and len(classes) > 1 and counts.min() >= 2 and min(n_reference, n - n_reference) >= len(classes):
        stratify = labels
    _, reference = train_test_split(np.arange(n), test_size=n_reference, random_state=seed, stratify=stratify)
    splits[reference] = REFERENCE
    return splits
