"""SemDeDup: semantic near-duplicates within k-means clusters of the embeddings.

Abbas et al. 2023, "SemDeDup: Data-efficient learning at web-scale through semantic
deduplication" (https://arxiv.org/abs/2303.09540), section 3: cluster the embeddings with
k-means, and within each cluster remove every row whose cosine similarity to a row ranked
before it exceeds a threshold. The rows are ranked by typicality here (most typical first), so
of each group of near-identical rows the most typical one stays.
"""

from __future__ import annotations

import numpy as np

from gencurate.selection.kmeans import embeddings_to_clusters

BLOCK = 1024  # rows of a similarity block (BLOCK x cluster size float32)


def _ranked_duplicates(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, D) unit rows, most typical first -> (positions removed, their partner positions, similarity).

    A row's partner is its most similar earlier row (ties: the earliest).
    """
    removed, partners, sims = [], [], []
    for a in range(0, len(x), BLOCK):
        b = min(a + BLOCK, len(x))
        sim = x[a:b] @ x[:b].T  # (B, b) float32
        sim[np.arange(b - a)[:, None] <= np.arange(b)[None, :] - a] = -np.inf  # only earlier rows count
        best = np.argmax(sim, axis=1)
        value = sim[np.arange(b - a), best]
        hit = np.flatnonzero(value > threshold)
        removed.append(a + hit)
        partners.append(best[hit])
        sims.append(value[hit])
    return np.concatenate(removed), np.concatenate(partners), np.concatenate(sims).astype(np.float64)


def semdedup(
    embeddings: np.ndarray, typicality: np.ndarray, *, threshold: float, n_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D) embeddings, (N,) typicality -> (removed rows ascending, (same length) partner rows
    kept-or-removed that they duplicate, their cosine similarity); n_clusters is capped at N."""
    x = np.asarray(embeddings, dtype=np.float32)
    x = np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
    labels = embeddings_to_clusters(x, min(n_clusters, len(x)), seed=seed)
    removed, partners, sims = [], [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rows = rows[np.lexsort((rows, -typicality[rows]))]  # most typical first; ties: lowest row
        r, p, s = _ranked_duplicates(x[rows], threshold)
        removed.append(rows[r])
        partners.append(rows[p])
        sims.append(s)
    removed, partners, sims = np.concatenate(removed), np.concatenate(partners), np.concatenate(sims)
    order = np.argsort(removed)
    return removed[order].astype(np.int64), partners[order].astype(np.int64), sims[order]
