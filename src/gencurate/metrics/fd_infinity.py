"""FD extrapolated to infinitely many samples (FD-infinity).

Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them"
(https://arxiv.org/abs/1911.07023): the Frechet distance of N samples is biased upwards by a
term close to c / N, so FD at several N, fitted by a line in 1/N, extrapolated to 1/N = 0, is
an estimate free of that bias. Both sets are subsampled by the same fraction (the reference
here is as small as the sample set, so its own c / N bias counts too): the summed bias
c1 / n1 + c2 / n2 stays linear in 1 / n1. The subsets are prefixes of one seeded permutation
per set, so one pass over the rows gives every size's statistics.
"""

from __future__ import annotations

import numpy as np
import torch

from gencurate.metrics.fd import as_array, fd_between, iter_prefix_statistics
from gencurate.metrics.keys import KEY_FD, KEY_FD_INFINITY


def subset_sizes(n: int, *, num_sizes: int, min_fraction: float) -> np.ndarray:
    """(num_sizes,) increasing int64 sizes, evenly spaced fractions of n from min_fraction to 1 (the last is n)."""
    if num_sizes < 2 or not 0.0 < min_fraction < 1.0:
        raise ValueError(f"FD-infinity needs >= 2 sizes and a fraction in (0, 1), got {num_sizes}, {min_fraction}")
    sizes = np.round(np.linspace(min_fraction, 1.0, num_sizes) * n).astype(np.int64)
    if sizes[0] < 2 or np.any(np.diff(sizes) <= 0):
        raise ValueError(
            f"{n} samples are too few for {num_sizes} distinct subset sizes from {min_fraction:g} x {n}: "
            "lower evaluate.fd_infinity_sizes or raise evaluate.num_samples"
        )
    return sizes


def fd_by_subset_size(
    samples: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    *,
    num_sizes: int,
    min_fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(N1, D) samples, (N2, D) reference -> (sizes (K,) of the sample subsets, FD (K,) at each).

    Subset k holds the first sizes[k] rows of a seeded permutation of the samples and the same
    fraction of a seeded permutation of the reference; the last is both whole sets.
    """
    x1, x2 = as_array(samples, "samples"), as_array(reference, "reference")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"feature dims differ: {x1.shape[1]} vs {x2.shape[1]}")
    sizes1 = subset_sizes(len(x1), num_sizes=num_sizes, min_fraction=min_fraction)
    sizes2 = subset_sizes(len(x2), num_sizes=num_sizes, min_fraction=min_fraction)
    rng = np.random.default_rng(seed)
    order1, order2 = rng.permutation(len(x1)), rng.permutation(len(x2))
    # Both sets advance in step, so only the current size's statistics are held.
    stats1 = iter_prefix_statistics(x1, sizes=sizes1, order=order1)
    stats2 = iter_prefix_statistics(x2, sizes=sizes2, order=order2)
    fds = np.array([
        fd_between(s1, s2, rows1=lambda n=s1.n: x1[np.sort(order1[:n])], rows2=lambda n=s2.n: x2[np.sort(order2[:n])])
        for s1, s2 in zip(stats1, stats2)
    ])
    return sizes1, fds


def fd_infinity_features_to_metric(
    samples: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    *,
    num_sizes: int,
    min_fraction: float,
    seed: int,
) -> dict[str, float]:
    """(N1, D) samples, (N2, D) reference -> {KEY_FD: FD of the whole sets, KEY_FD_INFINITY: the 1/N -> 0 intercept}.

    Least-squares line through (1 / n_k, FD_k) (Chong & Forsyth 2020, section 3); deterministic for a fixed seed.
    """
    sizes, fds = fd_by_subset_size(samples, reference, num_sizes=num_sizes, min_fraction=min_fraction, seed=seed)
    _, intercept = np.polyfit(1.0 / sizes, fds, deg=1)
    return {KEY_FD: float(fds[-1]), KEY_FD_INFINITY: float(intercept)}
