"""Stage inputs checked before any work: reference rows, and whether samples, features and subsets belong together.

Used by the evaluate and train stages. The reference features come from the embed stage
(`paths.embedding("evaluation")`, rows = manifest rows), so only samples are embedded by those
stages, with the same encoder; the checks make sure both sides come from the same encoder and
the same kind of image, and each error names the DVC stage to rerun.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gencurate.arrays import check_image_array
from gencurate.data.schema import REFERENCE
from gencurate.io import file_sha256

EMBED_AGAIN = "rerun the embed stage (dvc repro embed@evaluation, or gencurate embed --role evaluation)"
# Re-embedded reference images must match the stored features to this cosine similarity
# (loose enough for CPU vs GPU/bf16 runs, far above what a different network or weights give).
MIN_REFERENCE_COSINE = 0.99
CHECK_IMAGES = 8  # stored images embedded again to prove the stored features match the encoder


def reference_rows(splits: np.ndarray, *, n: int, seed: int) -> np.ndarray:
    """(N,) split names of the manifest -> (n,) sorted int64 rows, a seeded choice among split == 'reference'."""
    candidates = np.flatnonzero(np.asarray(splits) == REFERENCE)
    if len(candidates) < n:
        raise ValueError(
            f"the manifest has {len(candidates)} reference images but evaluate.num_samples is {n}: "
            "lower evaluate.num_samples or hold out more images (prepare.reference_fraction)"
        )
    return np.sort(np.random.default_rng(seed).choice(candidates, size=n, replace=False)).astype(np.int64)


def check_embedding_meta(
    meta: Mapping[str, Any], *, name: str, weights: set[str | None], input_size: int, dim: int, rows: int,
    images_path: str | Path | None = None,
) -> None:
    """The stored evaluation embedding was made by this encoder for these images, else one clear error.

    `weights`: the accepted weights descriptions (the params value and the resolved source);
    `images_path`: the prepared images, whose sha256 must match the meta's when it records one.
    """
    # The metrics are defined on the encoder's raw pooled features (unit rows would put KID's
    # cubic kernel at its linear term; Binkowski et al. 2018), so the stored rows must be raw.
    wanted = {"name": name, "input_size": input_size, "dim": dim, "n": rows, "normalised": False}
    for key, value in wanted.items():
        if meta.get(key) != value:
            raise ValueError(
                f"the evaluation embedding has {key}={meta.get(key)!r} but the evaluation encoder needs {value!r}: "
                f"{EMBED_AGAIN}"
            )
    if meta.get("weights") not in weights:
        raise ValueError(
            f"the evaluation embedding was made with weights {meta.get('weights')!r}, "
            f"not {sorted(map(str, weights))}: {EMBED_AGAIN}"
        )
    if images_path is not None and "images_sha256" in meta and meta["images_sha256"] != file_sha256(images_path):
        raise ValueError(f"the evaluation embedding was made from other prepared images: {EMBED_AGAIN}")


def check_reference_features(stored: np.ndarray, recomputed: np.ndarray) -> None:
    """(n, D) stored reference features vs the same images embedded now: same encoder output, else an error."""
    a, b = np.asarray(stored, np.float64), np.asarray(recomputed, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.sum(a * b, axis=1) / np.maximum(norms, np.finfo(np.float64).tiny)
    if cosine.min() < MIN_REFERENCE_COSINE:
        raise ValueError(
            f"stored evaluation features differ from this encoder's output (cosine {cosine.min():.3f}): {EMBED_AGAIN}"
        )


def check_evaluation_samples(samples: np.ndarray, *, n: int, image_shape: tuple[int, ...], where: str) -> np.ndarray:
    """uint8 [>= n x H x W x C] samples -> the first n; (H, W, C) must match the prepared images."""
    check_image_array(samples, where=where)
    if tuple(samples.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{where}: samples are {samples.shape[1:]} but the prepared images are {tuple(image_shape)}")
    if len(samples) < n:
        raise ValueError(f"{where}: {len(samples)} samples but evaluate.num_samples is {n}: rerun sample with more")
    return samples[:n]


def check_train_rows(train_rows: np.ndarray, *, reference: np.ndarray, rows: int, where: str) -> np.ndarray:
    """(T,) selection ids -> the same, after checking they index the manifest and hold no reference image."""
    train_rows = np.asarray(train_rows, dtype=np.int64)
    if len(train_rows) < 2:
        raise ValueError(f"{where}: {len(train_rows)} images selected; memorisation needs at least 2")
    if train_rows.min() < 0 or train_rows.max() >= rows:
        raise ValueError(f"{where}: ids must be in [0, {rows}) (manifest rows): rerun select")
    leaked = np.intersect1d(train_rows, reference)
    if len(leaked):
        raise ValueError(f"{where}: {len(leaked)} selected images are evaluation reference images (e.g. id {leaked[0]})"
                         "; rerun select")
    return train_rows
