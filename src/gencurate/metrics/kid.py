"""Kernel inception distance: unbiased MMD^2 with a cubic polynomial kernel, averaged over random subsets.

Binkowski et al. 2018 (https://arxiv.org/abs/1801.01401): k(x, y) = (x.y / D + 1)^3, and the
estimator of torch-fidelity / MMD-GAN (diagonals dropped from K_XX and K_YY, not from K_XY).
Subsets are drawn with `numpy.random.RandomState(seed)` in torch-fidelity's order, so the same
seed gives the same subsets and numbers as `torch_fidelity.calculate_metrics(rng_seed=seed)`.
"""

from __future__ import annotations

from math import comb

import numpy as np
import torch
from tqdm.auto import tqdm

from gencurate.metrics.keys import KEY_KID_MEAN, KEY_KID_STD
from gencurate.metrics.knn_distances import as_features

KID_DEGREE = 3    # Binkowski et al. 2018: cubic polynomial kernel k(x, y) = (x.y / D + 1)^3
KID_COEF0 = 1.0


def polynomial_kernel_offset(
    x: np.ndarray, y: np.ndarray, *, degree: int = KID_DEGREE, coef0: float = KID_COEF0
) -> np.ndarray:
    """(m, D), (n, D) float32 -> (m, n) float32 kernel less its constant: (x.y / D + coef0)^degree - coef0^degree.

    The constant cancels exactly in the MMD estimator ((A - c) + (B - c) - 2 (C - c) = A + B - 2C).
    Dropping it before rounding keeps float32 accurate relative to the kernel's variation
    (~3 x.y / D: ~1e-3 for unit-norm features) rather than relative to 1, where float32 sums of
    the full kernel lose KID values below ~1e-6. Horner form of sum_k C(d, k) a^k coef0^(d-k), k >= 1.
    """
    a = x @ y.T
    a *= np.float32(1.0 / x.shape[1])
    if degree == 1:
        return a
    k = a + np.float32(comb(degree, degree - 1) * coef0)
    for power in range(degree - 2, 0, -1):
        k *= a
        k += np.float32(comb(degree, power) * coef0 ** (degree - power))
    k *= a
    return k


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """(m, m) kernel blocks -> unbiased MMD^2 estimate (may be slightly negative for equal distributions).

    Sums accumulate in float64.
    """
    m = k_xx.shape[0]
    within = (
        k_xx.sum(dtype=np.float64) - np.trace(k_xx, dtype=np.float64)
        + k_yy.sum(dtype=np.float64) - np.trace(k_yy, dtype=np.float64)
    ) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum(dtype=np.float64) / (m * m))


def kid_features_to_metric(
    features_1: np.ndarray | torch.Tensor,
    features_2: np.ndarray | torch.Tensor,
    *,
    subsets: int,
    subset_size: int,
    seed: int,
    progress: bool = False,
) -> dict[str, float]:
    """(N1, D), (N2, D) features -> {KEY_KID_MEAN, KEY_KID_STD} over `subsets` random subset pairs.

    Each subset pair draws `subset_size` rows of each set without replacement; std is over subsets (ddof=0).
    """
    x = as_features(features_1, "features_1").cpu().numpy()
    y = as_features(features_2, "features_2").cpu().numpy()
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dims differ: {x.shape[1]} vs {y.shape[1]}")
    if subsets < 1:
        raise ValueError(f"KID needs at least one subset, got {subsets}")
    if not 2 <= subset_size <= min(len(x), len(y)):
        raise ValueError(
            f"KID subset size {subset_size} must be in [2, {min(len(x), len(y))}] (the smaller set); "
            "lower evaluate.kid_subset_size or raise evaluate.num_samples"
        )
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for s in tqdm(range(subsets), desc="KID", unit="subset", disable=not progress, leave=False):
        xs = x[rng.choice(len(x), subset_size, replace=False)]
        ys = y[rng.choice(len(y), subset_size, replace=False)]
        kernel = polynomial_kernel_offset
        mmds[s] = mmd2_unbiased(kernel(xs, xs), kernel(xs, ys), kernel(ys, ys))
    return {KEY_KID_MEAN: float(mmds.mean()), KEY_KID_STD: float(mmds.std())}
