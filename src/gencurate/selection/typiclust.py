"""TypiClust selection: the most typical row of each k-means cluster.

Hacohen, Dekel & Weinshall 2022, "Active Learning on a Budget" (https://arxiv.org/abs/2202.02794),
Algorithm 1, as in the authors' code (avihu111/TypiClust, deep-al/pycls/al/typiclust.py):
cluster into `budget` clusters; visit clusters largest first, round-robin; from each take its
most typical not-yet-picked row, typicality recomputed among the cluster's remaining rows with
K = min(knn_k, remaining // 2) neighbours. Clusters smaller than `min_cluster_size` are visited
only once every larger cluster is exhausted (the authors skip them), so the budget is always met.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from gencurate.selection.kmeans import embeddings_to_clusters
from gencurate.selection.knn import knn_search
from gencurate.selection.typicality import knn_distances_to_typicality


def most_typical(embeddings: np.ndarray, rows: np.ndarray, knn_k: int) -> int:
    """The most typical of `rows` (sorted ascending) among themselves; ties go to the lowest row."""
    k = min(knn_k, len(rows) // 2)  # the authors' "density among half of the cluster" for small clusters
    if k < 1:
        return int(rows[0])
    dist, _ = knn_search(embeddings[rows], k, desc=None)
    return int(rows[np.argmax(knn_distances_to_typicality(dist))])


def typiclust(
    embeddings: np.ndarray, budget: int, *, knn_k: int, min_cluster_size: int, seed: int
) -> np.ndarray:
    """TypiClust picks in pick order: (N, D) float32 -> (budget,) int64."""
    n = len(embeddings)
    if budget == n:  # every row is picked; no clustering needed
        return np.arange(n, dtype=np.int64)
    labels = embeddings_to_clusters(embeddings, budget, seed=seed)
    sizes = np.bincount(labels, minlength=budget)
    ids = np.arange(budget)
    large_first = np.lexsort((ids, -sizes))  # largest first; ties by cluster id
    large_first = large_first[sizes[large_first] > 0]
    remaining = {int(c): np.flatnonzero(labels == c) for c in large_first}
    tiers = (
        [int(c) for c in large_first if sizes[c] >= min_cluster_size],
        [int(c) for c in large_first if sizes[c] < min_cluster_size],
    )
    order: list[int] = []
    with tqdm(total=budget, desc="typiclust", unit="pick", mininterval=1.0) as progress:
        for live in tiers:
            while live and len(order) < budget:
                still_live = []
                for c in live:
                    if len(order) == budget:
                        break
                    rows = remaining[c]
                    pick = most_typical(embeddings, rows, knn_k)
                    order.append(pick)
                    progress.update()
                    remaining[c] = rows[rows != pick]
                    if len(remaining[c]):
                        still_live.append(c)
                live = still_live
    return np.asarray(order, dtype=np.int64)
