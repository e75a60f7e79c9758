"""Coreset selection: exact k-center greedy, farthest-first traversal.

Sener & Savarese 2018, "Active Learning for Convolutional Neural Networks: A Core-Set
Approach" (https://arxiv.org/abs/1708.00489), Algorithm 1: repeatedly add the row whose
distance to its nearest pick is largest. It keeps outliers and drops near-duplicates.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from gencurate.selection.distance import NearestPickDistance, first_best, shortlist


def kcenter_greedy(embeddings: np.ndarray, budget: int, *, seed: int, workers: int | None = None) -> np.ndarray:
    """Farthest-first picks in pick order, from a seeded random first row.

    embeddings: (N, D) float32 C-contiguous; returns (budget,) int64. The first row is
    `np.random.default_rng(seed).integers(N)` (with no labelled pool, as in Sener & Savarese
    and google/active-learning's kcenter_greedy). Each pick is the exact (float64) farthest row;
    ties within rounding go to the lowest index.
    """
    n = len(embeddings)
    order = np.empty(budget, dtype=np.int64)
    order[0] = np.random.default_rng(seed).integers(n)
    with NearestPickDistance(embeddings, capacity=budget, workers=workers) as nearest:
        for t in tqdm(range(1, budget), desc="coreset", unit="pick", mininterval=1.0):
            nearest.add(order[t - 1])
            sq = nearest.sq  # picked rows hold -inf
            best = int(np.argmax(sq))
            # Every row whose exact distance could be the largest, decided in float64.
            candidates = np.flatnonzero(sq >= sq[best] - nearest.tolerance)
            if len(candidates) > 1:
                candidates = shortlist(candidates, sq)
                best = first_best(candidates, nearest.exact_sq(candidates), atol=nearest.exact_tolerance)
            order[t] = best
    return order
