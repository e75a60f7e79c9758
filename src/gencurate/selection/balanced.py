"""Balanced selection: a method applied within each group (class or cluster), the budget split equally.

Each group gets budget / K picks, capped by its size; what the small groups cannot take is
redistributed equally over the others (water-filling), so the budget is always met.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def split_budget(sizes: np.ndarray, budget: int) -> np.ndarray:
    """(K,) group sizes -> (K,) int64 picks per group: min(size, L) for the largest level L that
    fits, and the few picks left over one each to the groups above L, largest first (ties: lowest
    group). Sums to `budget` (which must not exceed the total size)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if budget > sizes.sum() or budget < 0:
        raise ValueError(f"budget {budget} must be in [0, {int(sizes.sum())}] (the rows of all groups)")
    lo, hi = 0, int(sizes.max(initial=0))
    while lo < hi:  # largest level whose capped sum still fits the budget
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if np.minimum(sizes, mid).sum() <= budget else (lo, mid - 1)
    quotas = np.minimum(sizes, lo)
    left = budget - int(quotas.sum())
    above = np.flatnonzero(sizes > lo)
    above = above[np.lexsort((above, -sizes[above]))][:left]  # left < len(above) by the choice of lo
    quotas[above] += 1
    return quotas


def select_within_groups(
    groups: np.ndarray, budget: int, pick: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """Apply `pick(rows, quota) -> (quota,) positions into rows` within each group of (N,) int
    `groups` with the quotas of `split_budget` -> (budget,) int64 rows, group by group
    (groups ascending; a group given all its rows takes them without calling `pick`)."""
    _, inverse, sizes = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(sizes)[:-1])  # rows ascending per group
    quotas = split_budget(np.array([len(m) for m in members]), budget)
    order = []
    for rows, quota in zip(members, quotas):
        if quota == len(rows):
            order.append(rows)
        elif quota > 0:
            order.append(rows[np.asarray(pick(rows, int(quota)), dtype=np.int64)])
    return np.concatenate(order).astype(np.int64) if order else np.empty(0, dtype=np.int64)
