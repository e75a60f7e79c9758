"""How unevenly images spread over classes (or clusters): one figure for a count vector.

Used by the dataset card (the data) and the selection report (each method's picks), so the
two speak of imbalance in the same terms.
"""

from __future__ import annotations

import numpy as np

NORMALISED_ENTROPY = "normalised_entropy"  # Shannon entropy / log(number of groups): 1 = even
MAX_MIN_RATIO = "max_min_ratio"            # largest group count / smallest (inf when a group is empty)
GROUPS = "groups"                          # groups counted (including empty ones)
EMPTY_GROUPS = "empty_groups"


def counts_to_shares(counts: np.ndarray) -> np.ndarray:
    """(G,) non-negative counts -> (G,) float64 shares summing to 1 (all zero when there is nothing)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def counts_to_imbalance(counts: np.ndarray) -> dict[str, float | int]:
    """(G,) non-negative counts per group -> imbalance figures.

    normalised_entropy: H(p) / log(G) with p the shares (1.0 = perfectly even, 0.0 = all in one
        group; 1.0 by convention for G <= 1);
    max_min_ratio: max count / min count (inf when some group is empty, nan when all are);
    groups, empty_groups: G and how many have count 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError(f"counts must be a 1-D array of non-negative numbers, got {counts!r}")
    g = len(counts)
    p = counts_to_shares(counts)
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum())
    normalised = 1.0 if g <= 1 else entropy / np.log(g)
    if g == 0 or counts.max() == 0:
        ratio = float("nan")
    else:
        ratio = float("inf") if counts.min() == 0 else float(counts.max() / counts.min())
    return {NORMALISED_ENTROPY: float(normalised), MAX_MIN_RATIO: ratio, GROUPS: g,
            EMPTY_GROUPS: int((counts == 0).sum())}
