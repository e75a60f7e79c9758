"""Improved precision and recall (Kynkaanniemi et al. 2019, https://arxiv.org/abs/1904.06991).

Each real sample spans a ball reaching its k-th nearest real neighbour (k = 3 in the paper);
precision is the share of generated samples inside at least one real ball (fidelity), recall
the share of real samples inside at least one generated ball (diversity). Balls are closed
(d <= r), as in torch-fidelity's implementation.
"""

from __future__ import annotations

import numpy as np
import torch

from gencurate.metrics.keys import KEY_PRECISION, KEY_RECALL
from gencurate.metrics.knn_distances import ball_statistics, nearest_squared_distances


def prc_memberships_to_metric(fake_in_real_balls: np.ndarray, real_in_fake_balls: np.ndarray) -> dict[str, float]:
    """(Nf,) bool: fake in some real ball; (Nr,) bool: real in some fake ball -> {precision, recall}."""
    return {
        KEY_PRECISION: float(np.mean(fake_in_real_balls)),
        KEY_RECALL: float(np.mean(real_in_fake_balls)),
    }


def prc_features_to_metric(
    fake: np.ndarray | torch.Tensor,
    real: np.ndarray | torch.Tensor,
    *,
    k: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """Generated (Nf, D) and real (Nr, D) features -> {KEY_PRECISION, KEY_RECALL} in [0, 1]."""
    knn = dict(batch_size=batch_size, device=device, progress=progress)
    for name, x in (("fake", fake), ("real", real)):
        if len(x) < k + 1:
            raise ValueError(f"{name}: {len(x)} points are too few for {k}-NN balls (need at least {k + 1})")
    # Column k of the self k-NN (the point itself first, at ~0) is the squared k-th neighbour radius.
    r_real = nearest_squared_distances(real, k=k + 1, **knn)[:, k]
    r_fake = nearest_squared_distances(fake, k=k + 1, **knn)[:, k]
    stats = ball_statistics(fake, real, sq_radii_a=r_fake, sq_radii_b=r_real, **knn)
    return prc_memberships_to_metric(stats.a_in_b[0], stats.b_in_a[0])
