"""Typicality selection: density x diversity greedy (design.md section 1).

typicality(x) = 1 / (mean distance to its K nearest neighbours + eps)  -- TypiClust,
Hacohen et al. 2022 (https://arxiv.org/abs/2202.02794); Lightly uses the same 20-NN density.
Each pick maximises typicality(x) * min(1, dist(x, picks) / r) ** diversity_strength, where r
is the median K-NN distance: the diversity factor only penalises candidates closer than a
typical spacing to an earlier pick and saturates at 1, so a far outlier never wins on
distance alone. The first pick is the most typical row; ties go to the lowest index.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from gencurate.selection.distance import NearestPickDistance, first_best, shortlist
from gencurate.selection.knn import knn_search

# TypiClust's constant (their `calculate_typicality`: 1 / (mean_distance + 1e-5)).
EPS = 1e-5


def knn_distances_to_typicality(knn_distances: np.ndarray) -> np.ndarray:
    """(N, K) neighbour distances -> (N,) float64 typicality, 1 / (mean distance + eps)."""
    return 1.0 / (knn_distances.mean(axis=1, dtype=np.float64) + EPS)


def knn_distances_to_radius(knn_distances: np.ndarray) -> float:
    """(N, K) neighbour distances -> r, the median of all N*K K-NN distances (at least eps).

    The floor keeps r positive when most rows are exact duplicates.
    """
    return max(float(np.median(knn_distances)), EPS)


def embeddings_to_typicality(embeddings: np.ndarray, knn_k: int) -> tuple[np.ndarray, float]:
    """(N, D) float32 -> ((N,) float64 typicality, radius r), from the exact `knn_k`-NN."""
    dist, _ = knn_search(embeddings, knn_k, desc="typicality k-NN")
    return knn_distances_to_typicality(dist), knn_distances_to_radius(dist)


def typicality_greedy(
    embeddings: np.ndarray,
    typicality: np.ndarray,
    radius: float,
    budget: int,
    *,
    diversity_strength: float = 1.0,
    workers: int | None = None,
) -> np.ndarray:
    """Greedy density x diversity picks, in pick order.

    embeddings: (N, D) float32 C-contiguous; typicality: (N,) float64; returns (budget,) int64.
    diversity_strength 0 ranks by typicality alone (near-duplicates then both qualify). Each
    pick is the exact (float64) best; ties within rounding go to the lowest index.
    """
    n = len(embeddings)
    order = np.empty(budget, dtype=np.int64)
    score = np.empty(n, dtype=np.float64)
    with NearestPickDistance(embeddings, capacity=budget, workers=workers) as nearest:
        for t in tqdm(range(budget), desc="typicality", unit="pick", mininterval=1.0):
            if t > 0:
                nearest.add(order[t - 1])
            sq = nearest.sq  # +inf before any pick (factor 1), -inf for picked rows
            np.multiply(typicality, diversity_factor(sq, radius, diversity_strength), out=score)
            score[order[:t]] = -np.inf  # picked rows never again, even when s = 0
            best = int(np.argmax(score))
            if t > 0:
                # Rows whose exact score could beat the best's lowest possible score, decided in float64.
                floor = typicality[best] * diversity_factor(
                    np.maximum(sq[best : best + 1] - nearest.tolerance, 0.0), radius, diversity_strength
                )[0]
                maybe = np.flatnonzero(typicality >= floor)  # the factor is at most 1
                maybe = maybe[sq[maybe] > -np.inf]
                high = typicality[maybe] * diversity_factor(sq[maybe] + nearest.tolerance, radius, diversity_strength)
                candidates = maybe[high >= floor]
                if len(candidates) > 1:
                    candidates = shortlist(candidates, score)
                    exact = typicality[candidates] * diversity_factor(
                        nearest.exact_sq(candidates), radius, diversity_strength
                    )
                    best = first_best(candidates, exact)
            order[t] = best
    return order


def diversity_factor(sq: np.ndarray, radius: float, strength: float) -> np.ndarray:
    """min(1, d / r) ** strength for squared distances `sq` (negative -> d = 0, +inf -> 1)."""
    factor = np.sqrt(np.maximum(sq, 0.0))
    factor /= radius
    np.minimum(factor, 1.0, out=factor)
    if strength != 1.0:
        np.power(factor, strength, out=factor)
    return factor
