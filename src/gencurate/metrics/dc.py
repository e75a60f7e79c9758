"""Density and coverage (Naeem et al. 2020, https://arxiv.org/abs/2002.09797).

With k-NN balls around the real samples only (k = 5 in the paper):
density  = 1/(k M) * sum over the M generated samples of how many real balls contain it
           (rewards samples in dense real regions; ~1 when both sets share a distribution, can exceed 1);
coverage = share of real balls that contain at least one generated sample (robust to real outliers,
           unlike recall). Balls are open (d < r) as in the authors' code (clovaai/generative-evaluation-prdc),
           so a real point's k-th neighbour is not inside its ball and identical sets give density 1.
"""

from __future__ import annotations

import numpy as np
import torch

from gencurate.metrics.keys import KEY_COVERAGE, KEY_DENSITY
from gencurate.metrics.knn_distances import ball_statistics, nearest_squared_distances


def dc_neighbourhoods_to_metric(
    fake_open_counts: np.ndarray, real_nearest_fake_sq: np.ndarray, real_sq_radii: np.ndarray, *, k: int
) -> dict[str, float]:
    """(M,) open real balls holding each fake, (N,) squared distance of each real to its nearest fake,
    (N,) squared real k-NN radii -> {density, coverage}."""
    fake_open_counts = np.asarray(fake_open_counts)
    return {
        KEY_DENSITY: float(fake_open_counts.sum() / (k * len(fake_open_counts))),
        KEY_COVERAGE: float(np.mean(np.asarray(real_nearest_fake_sq) < np.asarray(real_sq_radii))),
    }


def dc_features_to_metric(
    fake: np.ndarray | torch.Tensor,
    real: np.ndarray | torch.Tensor,
    *,
    k: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """Generated (M, D) and real (N, D) features -> {KEY_DENSITY (>= 0), KEY_COVERAGE in [0, 1]}."""
    if len(real) < k + 1:
        raise ValueError(f"real: {len(real)} points are too few for {k}-NN balls (need at least {k + 1})")
    knn = dict(batch_size=batch_size, device=device, progress=progress)
    r_real = nearest_squared_distances(real, k=k + 1, **knn)[:, k]
    stats = ball_statistics(fake, real, sq_count_radii_b=r_real, **knn)
    return dc_neighbourhoods_to_metric(stats.a_open_count[0], stats.b_nearest_sq, r_real, k=k)
