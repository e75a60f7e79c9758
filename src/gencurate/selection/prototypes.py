"""Prototypes selection: rank rows by their distance to the nearest k-means centroid.

Sorscher et al. 2022, "Beyond neural scaling laws: beating power law scaling via data pruning"
(https://arxiv.org/abs/2206.14486), section 5: the self-supervised prototype metric. Keep the
easiest (most prototypical) rows when data are scarce, the hardest when they are plentiful.
"""

from __future__ import annotations

import numpy as np

from gencurate.selection.kmeans import embeddings_to_kmeans

EASY, HARD = "easy", "hard"


def embeddings_to_centroid_distance(embeddings: np.ndarray, n_clusters: int, *, seed: int) -> np.ndarray:
    """(N, D) float32 -> (N,) float64 Euclidean distance of every row to its k-means centroid.

    n_clusters is capped at N.
    """
    labels, centroids = embeddings_to_kmeans(embeddings, min(n_clusters, len(embeddings)), seed=seed)
    diff = embeddings.astype(np.float64) - centroids.astype(np.float64)[labels]
    return np.sqrt(np.einsum("nd,nd->n", diff, diff))


def prototypes(embeddings: np.ndarray, budget: int, *, n_clusters: int, keep: str, seed: int) -> np.ndarray:
    """The `budget` rows nearest to (keep="easy") or farthest from (keep="hard") their k-means
    centroid, in that order: (N, D) float32 -> (budget,) int64; ties go to the lowest row."""
    if keep not in (EASY, HARD):
        raise ValueError(f"keep must be {EASY!r} or {HARD!r}, got {keep!r}")
    distance = embeddings_to_centroid_distance(embeddings, n_clusters, seed=seed)
    order = np.argsort(distance if keep == EASY else -distance, kind="stable")
    return order[:budget].astype(np.int64)
