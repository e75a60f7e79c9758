"""Typicality selection: density x diversity greedy (Hacohen et al. 2022, TypiClust).

typicality(x) = 1 / (mean distance to its K nearest neighbours + eps)  -- TypiClust,
Hacohen et al. 2022 (https://arxiv.org/abs/2202.02794); Lightly uses the same 20-NN density.
Each pick maximises typicality(x) * min(1, dist(x, picks) / r) ** diversity_strength, where r
is the median K-NN distance: the diversity factor only penalises candidates closer than a
typical spacing to an earlier pick and saturates at 1, so a far outlier never wins on
distance alone. The first pick is the most typical row; ties go to the lowest index.
"""

from __future__ import annotations

import heapq

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from gencurate.selection.distance import RELATIVE_TIE, squared_distance_tolerance
from gencurate.selection.knn import exact_candidates, knn_search

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


RADIUS_SAMPLE = 4096  # query rows of the budget-aware radius when its neighbour lies beyond the K-NN
RADIUS_CHUNK = 2**22  # float64 elements of neighbour differences held at once


def budget_neighbour(n: int, budget: int) -> int:
    """m = round(N / budget), in [1, N - 1]: the neighbour whose distance is the budget-aware radius."""
    return int(min(max(round(n / budget), 1), n - 1))


def embeddings_to_budget_radius(
    embeddings: np.ndarray, budget: int, *, knn_distances: np.ndarray | None, seed: int
) -> float:
    """r = median distance of a row to its m-th nearest other row, m = N / budget (at least eps).

    The spacing at which `budget` picks would tile the data: each pick stands for N / budget
    rows, about the rows within its m-th neighbour distance. Read from the (N, K) `knn_distances`
    when m <= K; else exact m-NN of RADIUS_SAMPLE seeded random rows.
    """
    x = embeddings
    n = len(x)
    m = budget_neighbour(n, budget)
    if knn_distances is not None and m <= knn_distances.shape[1]:
        return max(float(np.median(knn_distances[:, m - 1])), EPS)
    rows = np.arange(n) if n <= RADIUS_SAMPLE else np.sort(
        np.random.default_rng(seed).choice(n, RADIUS_SAMPLE, replace=False))
    ids = exact_candidates(x, x[rows], m + 1)  # (S, m + 1): itself and m others, or m + 1 others
    mth = np.empty(len(rows))
    step = max(1, RADIUS_CHUNK // ((m + 1) * x.shape[1]))  # bounded float64 temporaries
    for a in range(0, len(rows), step):
        q, c = rows[a : a + step], ids[a : a + step]
        diff = x[c].astype(np.float64) - x[q, None, :].astype(np.float64)
        dist = np.sqrt(np.einsum("skd,skd->sk", diff, diff))
        dist[c == q[:, None]] = np.inf  # not itself
        mth[a : a + step] = np.sort(dist, axis=1)[:, m - 1]
    return max(float(np.median(mth)), EPS)


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
    diversity_strength: float,
) -> np.ndarray:
    """Greedy density x diversity picks, in pick order.

    embeddings: (N, D) float32 C-contiguous; typicality: (N,) float64; returns (budget,) int64.
    diversity_strength 0 ranks by typicality alone (near-duplicates then both qualify). Each
    pick is the exact (float64) best; ties within rounding go to the lowest index.

    Lazy greedy (Minoux 1978, "Accelerated greedy algorithms for maximizing submodular set
    functions"): a row's distance to the picks only shrinks as picks are added, so its score
    only falls and a score computed against fewer picks is an upper bound. A max-heap holds
    those stale bounds; the top row is brought up to date against the picks added since its
    last update and pushed back, until the top is up to date: it is then the exact best. Only
    rows that reach the top are ever updated, so a pick costs a few small products instead of
    a pass over all N rows (timings: benchmarks/results/selection.json).
    """
    x = embeddings
    scores = LazyScores(x, typicality, radius, diversity_strength, capacity=budget)
    order = np.empty(budget, dtype=np.int64)
    # Single-threaded BLAS: the refreshes are tiny gemvs, where idle BLAS threads spin-wait.
    with threadpool_limits(limits=1, user_api="blas"):
        for t in tqdm(range(budget), desc="typicality", unit="pick", mininterval=1.0):
            best = scores.fresh_top()
            # The full greedy decided t = 0 by argmax (exact ties only), later picks within
            # RELATIVE_TIE (`first_best`); the same rule here keeps the picks identical.
            floor = best - (RELATIVE_TIE * abs(best) if t > 0 else 0.0)
            order[t] = scores.pop_lowest_at_least(floor)
    return order


class LazyScores:
    """Max-heap of typicality * diversity factor per unpicked row, refreshed lazily (float64).

    A row's entry is exact against the first `seen[i]` picks; `sq[i]` is its float64 squared
    distance to the nearest of them. A refresh screens the new picks with one float32 gemv
    (|c|^2 - 2 x.c, error <= tol) and measures only those within 2 tol of the screened minimum
    in float64 from the differences x - c (fixed summation order, no BLAS: thread-independent);
    the nearest pick is always among them, and measuring every new pick in float64 would cost
    far more (rows are refreshed against hundreds of picks).
    """

    def __init__(self, x: np.ndarray, typicality: np.ndarray, radius: float, strength: float, *, capacity: int):
        self._x, self._typ, self._radius, self._strength = x, typicality, radius, strength
        n, d = x.shape
        self._sq = np.full(n, np.inf)
        self._seen = np.zeros(n, dtype=np.int64)
        self._picks = np.empty((capacity, d), dtype=np.float64)
        self._picks32 = np.empty((capacity, d), dtype=np.float32)
        self._pick_norms32 = np.empty(capacity, dtype=np.float32)
        norms = np.einsum("ij,ij->i", x, x)
        self._tol = squared_distance_tolerance(d, float(norms.max()) if n else 0.0)
        self.count = 0
        # (-score, row): the heap's smallest is the highest score, lowest row among equals.
        self._heap = [(-s, i) for i, s in enumerate(typicality.tolist())]
        heapq.heapify(self._heap)

    def fresh_top(self) -> float:
        """Bring the top up to date until it stays on top; its exact score (the best of all)."""
        while self._seen[self._heap[0][1]] < self.count:
            _, i = heapq.heappop(self._heap)
            heapq.heappush(self._heap, (-self._refresh(i), i))
        return -self._heap[0][0]

    def pop_lowest_at_least(self, floor: float) -> int:
        """Pick the lowest row whose exact score is >= floor (<= the fresh top); returns it."""
        tied, stale = [], []
        while self._heap and -self._heap[0][0] >= floor:
            key, i = heapq.heappop(self._heap)
            score = self._refresh(i) if self._seen[i] < self.count else -key
            (tied if score >= floor else stale).append((-score, i))
        pick = min(i for _, i in tied)
        for entry in tied + stale:
            if entry[1] != pick:
                heapq.heappush(self._heap, entry)
        self._picks[self.count] = self._picks32[self.count] = self._x[pick]
        self._pick_norms32[self.count] = self._x[pick] @ self._x[pick]
        self.count += 1
        return pick

    def _refresh(self, i: int) -> float:
        """Fold the picks row i has not seen into its distance; its exact score now."""
        lo, t = self._seen[i], self.count
        if t > lo:
            row = self._x[i]
            screen = self._pick_norms32[lo:t] - 2.0 * (self._picks32[lo:t] @ row)  # (T,) float32, + |x|^2
            near = lo + np.flatnonzero(screen <= screen.min() + 2 * self._tol)
            diff = self._picks[near] - row  # (M, D) float64
            self._sq[i] = min(self._sq[i], np.einsum("td,td->t", diff, diff).min())
            self._seen[i] = t
        factor = diversity_factor(self._sq[i : i + 1], self._radius, self._strength)[0]
        return float(self._typ[i] * factor)


def diversity_factor(sq: np.ndarray, radius: float, strength: float) -> np.ndarray:
    """min(1, d / r) ** strength for squared distances `sq` (negative -> d = 0, +inf -> 1)."""
    factor = np.sqrt(np.maximum(sq, 0.0))
    factor /= radius
    np.minimum(factor, 1.0, out=factor)
    if strength != 1.0:
        np.power(factor, strength, out=factor)
    return factor
