"""Rows removed before any method runs: SemDeDup near-duplicates and the least typical outliers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gencurate.selection.semdedup import semdedup

SEMDEDUP, OUTLIER = "semdedup", "outlier"  # removal reasons
# Columns of the removal table (rows of the train split; the stage writes ids instead).
ROW, REASON, PARTNER, SIMILARITY = "row", "reason", "partner", "similarity"


def typicality_to_least_typical(typicality: np.ndarray, share: float) -> np.ndarray:
    """(N,) typicality -> sorted int64 rows of the ceil(share * N) least typical (ties: lowest row)."""
    count = math.ceil(share * len(typicality) - 1e-9) if share > 0 else 0
    return np.sort(np.argsort(typicality, kind="stable")[:count]).astype(np.int64)


def train_to_pool(
    embeddings: np.ndarray,
    typicality: np.ndarray,
    *,
    drop_outliers: float,
    semdedup_threshold: float | None,
    semdedup_clusters: int,
    seed: int,
) -> tuple[np.ndarray, pd.DataFrame]:
    """(N, D) embeddings and (N,) typicality -> (sorted int64 rows every method chooses from,
    the removed rows: row, reason, partner (-1 for outliers), similarity (NaN for outliers)).

    SemDeDup runs first (a near-duplicate is not an outlier); outliers are the least typical
    `drop_outliers` share of all N rows, among the rows SemDeDup kept.
    """
    n = len(embeddings)
    frames = []
    removed = np.zeros(n, dtype=bool)
    if semdedup_threshold is not None:
        rows, partners, sims = semdedup(embeddings, typicality, threshold=semdedup_threshold,
                                        n_clusters=semdedup_clusters, seed=seed)
        removed[rows] = True
        frames.append(pd.DataFrame({ROW: rows, REASON: SEMDEDUP, PARTNER: partners, SIMILARITY: sims}))
    outliers = typicality_to_least_typical(typicality, drop_outliers)
    outliers = outliers[~removed[outliers]]
    removed[outliers] = True
    frames.append(pd.DataFrame({ROW: outliers, REASON: OUTLIER, PARTNER: np.full(len(outliers), -1, dtype=np.int64),
                                SIMILARITY: np.full(len(outliers), np.nan)}))
    table = pd.concat(frames, ignore_index=True).sort_values(ROW, kind="stable").reset_index(drop=True)
    return np.flatnonzero(~removed).astype(np.int64), table
