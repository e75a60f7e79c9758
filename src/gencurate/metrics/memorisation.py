"""Memorisation: how many generated samples are near-copies of an image the model was trained on.

Definition used here: with d_train(i) the distance of training image i to its nearest *other*
training image (leave-one-out), the copy threshold is t = quantile(d_train, q) (q =
`evaluate.memorisation_quantile`, e.g. 0.05), and

    memorisation = share of generated samples g with  min_i |g - train_i| <= t.

A sample closer to a training image than 95% of training images are to their own nearest
neighbour is, at the resolution of the data itself, a copy of it. The threshold adapts to the
feature scale and to how dense the training subset is, so subsets of different sizes are
judged by their own spacing (a tighter subset gets a tighter threshold). Exact copies
(distance 0) always count. In the spirit of the nearest-neighbour copy tests of
Carlini et al. 2023 (https://arxiv.org/abs/2301.13188) and Somepalli et al. 2023
(https://arxiv.org/abs/2212.03860), calibrated on the training set instead of a fixed constant.
"""

from __future__ import annotations

import numpy as np
import torch

from gencurate.metrics.keys import KEY_MEMORISATION, KEY_MEMORISATION_THRESHOLD
from gencurate.metrics.knn import DEFAULT_BATCH_SIZE, knn_radii, nearest_distances


def memorisation_distances_to_metric(
    sample_to_train: np.ndarray, train_loo: np.ndarray, *, quantile: float
) -> dict[str, float]:
    """(M,) nearest-training distances of the samples, (T,) leave-one-out training distances -> metric."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"memorisation quantile must be in (0, 1), got {quantile}")
    threshold = float(np.quantile(np.asarray(train_loo, dtype=np.float64), quantile))
    return {
        KEY_MEMORISATION: float(np.mean(np.asarray(sample_to_train) <= threshold)),
        KEY_MEMORISATION_THRESHOLD: threshold,
    }


def memorisation_features_to_metric(
    samples: np.ndarray | torch.Tensor,
    train: np.ndarray | torch.Tensor,
    *,
    quantile: float = 0.05,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """Generated (M, D) and training-subset (T >= 2, D) features -> {KEY_MEMORISATION in [0, 1], threshold}."""
    if len(train) < 2:
        raise ValueError(f"memorisation needs at least 2 training images (leave-one-out distances), got {len(train)}")
    train_loo = knn_radii(train, k=1, batch_size=batch_size, device=device, progress=progress)
    to_train = nearest_distances(samples, train, k=1, batch_size=batch_size, device=device, progress=progress)[:, 0]
    return memorisation_distances_to_metric(to_train, train_loo, quantile=quantile)
