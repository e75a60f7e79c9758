"""k-means of selection embeddings (faiss): the clusters of TypiClust, prototypes, SemDeDup and balancing."""

from __future__ import annotations

import faiss
import numpy as np

from gencurate.selection.knn import single_threaded

KMEANS_ITERS = 25  # Lloyd iterations after seeding (faiss's default count)
# Seeding: AFK-MC^2 (Bachem et al. 2016, https://arxiv.org/abs/1611.00107), a Markov-chain
# approximation of k-means++ (Arthur & Vassilvitskii 2007) that TypiClust's sklearn KMeans uses.
# Random seeding can merge planted clusters, and faiss's k-means++ (D^2 sampling without greedy
# local trials) now and then too; AFK-MC^2 avoids both and seeds faster than faiss's k-means++.
KMEANS_SEEDING = faiss.ClusteringInitMethod_AFK_MC2
KMEANS_RUNS = 3  # best objective of 3 seeded runs, as TypiClust's MiniBatchKMeans (n_init=3)


def embeddings_to_kmeans(embeddings: np.ndarray, n_clusters: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) float32 -> ((N,) int64 nearest centroid of every row, (n_clusters, D) float32 centroids).

    faiss k-means, KMEANS_SEEDING seeding, best of KMEANS_RUNS seeded runs; n_clusters <= N.
    """
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if not 1 <= n_clusters <= len(x):
        raise ValueError(f"k-means needs 1 <= clusters <= rows ({len(x)}), got {n_clusters}")
    kmeans = faiss.Kmeans(
        x.shape[1], n_clusters, niter=KMEANS_ITERS, nredo=KMEANS_RUNS, seed=seed, verbose=False,
        min_points_per_centroid=1, init_method=KMEANS_SEEDING,
    )
    with single_threaded(len(x) * n_clusters * x.shape[1]):
        kmeans.train(x)
        _, labels = kmeans.index.search(x, 1)
    return labels[:, 0].astype(np.int64), kmeans.centroids.copy()


def embeddings_to_clusters(embeddings: np.ndarray, n_clusters: int, *, seed: int) -> np.ndarray:
    """(N, D) float32 -> (N,) int64 k-means cluster of every row (see `embeddings_to_kmeans`)."""
    return embeddings_to_kmeans(embeddings, n_clusters, seed=seed)[0]
