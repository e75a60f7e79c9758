"""All feature-space metrics of one generated set at once, sharing the k-NN passes.

Precision/recall (k = prc_k) and density/coverage (k = dc_k) need the real k-NN radii, the
generated k-NN radii and the generated-vs-real distances; computed separately that is five
N x N sweeps, here the equivalent of two: one symmetric half-sweep per set for the radii (both k
at once) and one cross sweep for every ball membership (`knn_distances.ball_statistics`).
"""

from __future__ import annotations

import numpy as np
import torch

from gencurate.metrics.dc import dc_neighbourhoods_to_metric
from gencurate.metrics.fd_infinity import fd_infinity_features_to_metric
from gencurate.metrics.keys import KEY_KID_MEAN, KEY_KID_STD, KEY_KID_X1E3, KEY_KID_X1E3_STD, KID_SCALE
from gencurate.metrics.kid import kid_features_to_metric
from gencurate.metrics.knn_distances import as_features, ball_statistics, nearest_squared_distances
from gencurate.metrics.prc import prc_memberships_to_metric


def features_to_metrics(
    samples: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    *,
    fd_infinity_sizes: int,
    fd_infinity_min_fraction: float,
    kid_subsets: int,
    kid_subset_size: int,
    prc_k: int,
    dc_k: int,
    seed: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """Generated (M, D) and reference (N, D) features -> metrics dict.

    Keys: fd, fd_infinity, kid_x1e3, kid_x1e3_std, precision, recall, density, coverage (see
    gencurate.metrics.keys; memorisation needs the training subset: gencurate.metrics.memorisation).
    The keyword arguments are the `evaluate` params section's (`batch_size`: its knn_block_size);
    `seed` also draws FD-infinity's subsets.
    """
    fake = as_features(samples, "samples", device=device)
    real = as_features(reference, "reference", device=device)
    if fake.shape[1] != real.shape[1]:
        raise ValueError(f"samples have {fake.shape[1]} feature dims but the reference has {real.shape[1]}")
    k_max = max(prc_k, dc_k)
    for name, n, k in (("reference", len(real), k_max), ("samples", len(fake), prc_k)):
        if n < k + 1:
            raise ValueError(f"{name}: {n} points are too few for {k}-NN balls (need at least {k + 1})")
    out: dict[str, float] = {}
    out.update(fd_infinity_features_to_metric(
        fake.cpu(), real.cpu(), num_sizes=fd_infinity_sizes, min_fraction=fd_infinity_min_fraction, seed=seed
    ))
    kid = kid_features_to_metric(fake.cpu(), real.cpu(), subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    out.update({KEY_KID_X1E3: KID_SCALE * kid[KEY_KID_MEAN], KEY_KID_X1E3_STD: KID_SCALE * kid[KEY_KID_STD]})
    knn = dict(batch_size=batch_size, device=device, progress=progress)
    # Column k of the self k-NN (the point itself first, at ~0) is the squared k-th neighbour radius.
    real_nn = nearest_squared_distances(real, k=k_max + 1, **knn)
    fake_nn = nearest_squared_distances(fake, k=prc_k + 1, **knn)
    stats = ball_statistics(
        fake, real, sq_radii_a=fake_nn[:, prc_k], sq_radii_b=real_nn[:, prc_k], sq_count_radii_b=real_nn[:, dc_k], **knn
    )
    out.update(prc_memberships_to_metric(stats.a_in_b[0], stats.b_in_a[0]))
    out.update(dc_neighbourhoods_to_metric(stats.a_open_count[0], stats.b_nearest_sq, real_nn[:, dc_k], k=dc_k))
    return out
