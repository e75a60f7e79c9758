"""Curation methods: pick `budget` rows of an embedding matrix.

`select(embeddings, method, budget, ...)` is the one entry point the stage and other code call;
the per-method modules hold the algorithms (pick order) and their papers.
"""

from __future__ import annotations

import numpy as np

from gencurate.selection.balanced import select_within_groups
from gencurate.selection.coreset import kcenter_greedy
from gencurate.selection.knn import knn_search
from gencurate.selection.prototypes import EASY, HARD, prototypes
from gencurate.selection.typicality import (
    embeddings_to_budget_radius, embeddings_to_typicality, knn_distances_to_radius, knn_distances_to_typicality,
    typicality_greedy,
)
from gencurate.selection.typiclust import typiclust

FULL, RANDOM, CORESET, TYPICALITY, TYPICLUST, PROTOTYPES = (
    "full", "random", "coreset", "typicality", "typiclust", "prototypes")
METHODS = (FULL, RANDOM, CORESET, TYPICALITY, TYPICLUST, PROTOTYPES)
KNN_MEDIAN, BUDGET = "knn_median", "budget"  # typicality's diversity radius rules

_CHECK_ROWS = 65536  # rows per finiteness check (bounded temporary memory)

__all__ = [
    "BUDGET", "CORESET", "EASY", "FULL", "HARD", "KNN_MEDIAN", "METHODS", "PROTOTYPES", "RANDOM", "TYPICALITY",
    "TYPICLUST", "as_embeddings", "embeddings_to_typicality", "kcenter_greedy", "knn_search", "prototypes", "select",
    "select_balanced", "select_in_order", "typicality_greedy", "typiclust",
]


def as_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """Validate (N, D) finite real rows -> C-contiguous float32 (no copy when already so)."""
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"embeddings must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    for a in range(0, len(x), _CHECK_ROWS):
        bad = ~np.isfinite(x[a : a + _CHECK_ROWS]).all(axis=1)
        if bad.any():
            raise ValueError(f"embeddings row {a + int(np.argmax(bad))} contains NaN or inf")
    return x


def select_in_order(
    embeddings: np.ndarray,
    method: str,
    budget: int,
    *,
    seed: int,
    knn_k: int,
    diversity_strength: float,
    min_cluster_size: int,
    radius_rule: str,
    n_clusters: int,
    prototypes_keep: str,
    knn_distances: np.ndarray | None = None,
) -> np.ndarray:
    """Like `select`, but rows in the order the method picked them (random: draw order).

    seed, knn_k, diversity_strength, min_cluster_size (typiclust_min_cluster_size), radius_rule
    (typicality_radius), n_clusters (clusters), prototypes_keep: the `select` params section's.

    knn_distances: the (N, knn_k) distances of every row's `knn_k` nearest other rows
    (`knn_search`), when the caller already has them (e.g. from a faiss IVF index at millions
    of rows); typicality then uses them instead of an exact k-NN search of its own.
    radius_rule: typicality's diversity radius, the median K-NN distance (knn_median) or the
    median distance to the (N / budget)-th neighbour (budget). n_clusters, prototypes_keep:
    the k-means clusters of `prototypes` and whether it keeps the easy or the hard rows.
    """
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; valid: {', '.join(METHODS)}")
    x = as_embeddings(embeddings)
    n = len(x)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ValueError(f"budget must be an integer, got {budget!r}")
    if budget <= 0:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if method == FULL:
        return np.arange(n, dtype=np.int64)
    if budget > n:
        raise ValueError(f"budget {budget} exceeds the number of rows ({n})")
    if method == TYPICALITY and not 1 <= knn_k < n:
        raise ValueError(f"knn_k must be in [1, {n - 1}] for {n} rows, got {knn_k}")
    if knn_k < 1:  # typiclust caps K at half of each cluster itself
        raise ValueError(f"knn_k must be >= 1, got {knn_k}")
    if diversity_strength < 0:
        raise ValueError(f"diversity_strength must be >= 0, got {diversity_strength}")
    if min_cluster_size < 1:
        raise ValueError(f"min_cluster_size must be >= 1, got {min_cluster_size}")
    if radius_rule not in (KNN_MEDIAN, BUDGET):
        raise ValueError(f"radius_rule must be {KNN_MEDIAN!r} or {BUDGET!r}, got {radius_rule!r}")
    if method == PROTOTYPES and n_clusters < 1:
        raise ValueError(f"prototypes needs n_clusters >= 1, got {n_clusters}")
    if knn_distances is not None and np.shape(knn_distances) != (n, knn_k):
        raise ValueError(f"knn_distances must be ({n}, {knn_k}), got {np.shape(knn_distances)}")
    budget = int(budget)
    if method == RANDOM:
        return np.random.default_rng(seed).choice(n, size=budget, replace=False).astype(np.int64)
    if method == CORESET:
        return kcenter_greedy(x, budget, seed=seed)
    if method == TYPICALITY:
        if knn_distances is None:
            typicality, radius = embeddings_to_typicality(x, knn_k)
        else:
            typicality, radius = knn_distances_to_typicality(knn_distances), knn_distances_to_radius(knn_distances)
        if radius_rule == BUDGET:
            radius = embeddings_to_budget_radius(x, budget, knn_distances=knn_distances, seed=seed)
        return typicality_greedy(x, typicality, radius, budget, diversity_strength=diversity_strength)
    if method == PROTOTYPES:
        return prototypes(x, budget, n_clusters=n_clusters, keep=prototypes_keep, seed=seed)
    return typiclust(x, budget, knn_k=knn_k, min_cluster_size=min_cluster_size, seed=seed)


def select_balanced(
    embeddings: np.ndarray, groups: np.ndarray, method: str, budget: int, *, knn_k: int,
    knn_distances: np.ndarray | None = None, **options,
) -> np.ndarray:
    """`method` applied within each group of (N,) int `groups` (classes or clusters; every value is a
    group, so rows without a label, -1, form one of their own), the budget
    split equally, capped by what a group holds and the rest redistributed (`split_budget`)
    -> sorted unique (budget,) int64 rows.

    Within a group of M rows the method sees only those rows, with K = min(knn_k, M - 1)
    neighbours; typicality takes its density from the first K columns of the rows' own
    (N, knn_k) `knn_distances` (neighbours over all rows) when given. Options as for `select_in_order`.
    """
    x = as_embeddings(embeddings)
    if method == FULL:
        raise ValueError("full takes every row; there is nothing to balance")
    if np.shape(groups) != (len(x),):
        raise ValueError(f"groups must be ({len(x)},), got {np.shape(groups)}")
    if not 1 <= budget <= len(x):
        raise ValueError(f"budget must be in [1, {len(x)}], got {budget}")

    def pick(rows: np.ndarray, quota: int) -> np.ndarray:
        k = min(knn_k, len(rows) - 1)
        dist = None if knn_distances is None else np.ascontiguousarray(knn_distances[rows, :k])
        return select_in_order(x[rows], method, quota, knn_k=k, knn_distances=dist, **options)

    return np.sort(select_within_groups(groups, budget, pick))


def select(embeddings: np.ndarray, method: str, budget: int, **options) -> np.ndarray:
    """Pick `budget` rows of (N, D) embeddings by `method` -> sorted unique (budget,) int64 row indices.

    `full` returns all N rows (budget ignored). Options (seed, knn_k, diversity_strength,
    min_cluster_size, knn_distances, radius_rule, n_clusters, prototypes_keep) as for
    `select_in_order`. Pure and deterministic for a
    fixed seed, also across thread counts. Bad input -> one-line ValueError.
    """
    return np.sort(select_in_order(embeddings, method, budget, **options))
