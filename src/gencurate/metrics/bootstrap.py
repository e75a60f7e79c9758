"""Bootstrap replicates of every metric of one run: samples and reference images resampled together.

Replicate b draws M samples and N reference images with replacement, as multiplicities
u_b (M,) and w_b (N,), and recomputes each metric on the resampled multisets. Everything that
does not depend on the draw is computed once, so a replicate costs little:

- FD: with X, Y centred, the weighted covariances are S1 = A A^T, S2 = B B^T for
  A = X^T diag(sqrt u) / sqrt(M - 1), B likewise, so tr sqrt(S1 S2) is the nuclear norm of the
  small cross matrix H = A^T B = diag(sqrt u) Xc Yc^T diag(sqrt w) / sqrt((M-1)(N-1)) (M' x N',
  only drawn rows). Its centring needs only the (M, N) cross-Gram X Y^T, computed once; one
  symmetric eigenproblem of H H^T per replicate replaces a d x d matrix square root.
- KID: the unbiased MMD^2 of the polynomial kernel on the whole resampled sets, from the three
  kernel matrices computed once (copies of one image count as distinct draws, as in a resampled set).
- Precision/recall/density/coverage: the k-NN radii of the full sets are kept (a resampled set's
  duplicates would give zero radii), and ball memberships are read from (M, N) boolean matrices:
  sample i is in the real manifold of replicate b if some drawn reference j has it in its ball.
- Memorisation: the per-image copy indicators (fixed threshold) are averaged with the weights.

Memory: a few (M, N) boolean and float64 matrices, so it grows with M x N (the KID kernels dominate).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits

from gencurate.metrics import keys as K
from gencurate.metrics.fd import trace_sqrt_product
from gencurate.metrics.knn_distances import (
    as_features, nearest_squared_distances, squared_distance_blocks,
)


def bootstrap_weights(n: int, *, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n) int64 multiplicities: each row draws n of n items with replacement (rows sum to n)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.int64)


def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, D) -> (float64 rows minus their plain mean, that (D,) mean). A shift leaves the weighted
    covariances unchanged and keeps the Gram entries small, so the centring below loses no precision."""
    x = np.asarray(x, dtype=np.float64)
    shift = x.mean(0)
    return x - shift, shift


def fd_replicates(fake: np.ndarray, real: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """FD of each resampled pair: fake (M, D), real (N, D), u (B, M), w (B, N) multiplicities -> (B,) float64.

    With u = 1 and w = 1 this is the plain FD of the two sets (up to round-off). While a draw holds
    fewer distinct rows than D (~0.63 M: the demo's 1,000 x 1,280) the trace term comes from the
    small cross matrix; beyond that, from the two D x D weighted covariances (`trace_sqrt_product`).
    """
    (x, shift_x), (y, shift_y) = _centred(fake), _centred(real)
    m, n, d = len(x), len(y), x.shape[1]
    small_side = (1.0 - np.exp(-1.0)) * min(m, n) < d   # expected distinct rows of a draw vs the dimension
    gxy = x @ y.T if small_side else None                # (M, N), only for the cross-matrix route
    x_sq, y_sq = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
    out = np.empty(len(u))
    for b, (ub, wb) in enumerate(zip(u.astype(np.float64), w.astype(np.float64))):
        mu_x, mu_y = ub @ x / m, wb @ y / n              # (D,) weighted means
        tr1 = (ub @ x_sq - m * mu_x @ mu_x) / (m - 1)
        tr2 = (wb @ y_sq - n * mu_y @ mu_y) / (n - 1)
        rows, cols = np.flatnonzero(ub), np.flatnonzero(wb)
        if gxy is not None:
            # (X - 1 mu_x^T)(Y - 1 mu_y^T)^T from the Gram: subtract X mu_y, Y mu_x, add mu_x . mu_y.
            c = gxy[np.ix_(rows, cols)] - (x[rows] @ mu_y)[:, None] - (y[cols] @ mu_x)[None, :] + mu_x @ mu_y
            h = c * np.sqrt(ub[rows])[:, None] * np.sqrt(wb[cols])[None, :] / np.sqrt((m - 1) * (n - 1))
            small = h @ h.T if h.shape[0] <= h.shape[1] else h.T @ h
            tr_covmean = np.sqrt(np.clip(scipy.linalg.eigvalsh(small, driver="evd", check_finite=False), 0.0,
                                         None)).sum()
        else:
            xc, yc = x[rows] - mu_x, y[cols] - mu_y
            s1 = (xc.T * ub[rows]) @ xc / (m - 1)
            s2 = (yc.T * wb[cols]) @ yc / (n - 1)
            tr_covmean = trace_sqrt_product(s1, s2)
        diff = (mu_x + shift_x) - (mu_y + shift_y)
        out[b] = diff @ diff + tr1 + tr2 - 2.0 * tr_covmean
    return out


def kid_replicates(fake: np.ndarray, real: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 with k(a, b) = (a.b / D + 1)^3 (Binkowski et al. 2018, https://arxiv.org/abs/1801.01401)
    of each resampled pair: (M, D), (N, D), (B, M), (B, N) -> (B,) float64."""
    x, y = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    uf, wf = u.astype(np.float64), w.astype(np.float64)
    m, n = len(x), len(y)
    # Off-diagonal pairs of a resampled set: all ordered pairs of draws minus each draw with itself.
    xx = (((uf @ kxx) * uf).sum(1) - uf @ np.diag(kxx)) / (m * (m - 1))
    yy = (((wf @ kyy) * wf).sum(1) - wf @ np.diag(kyy)) / (n * (n - 1))
    xy = ((uf @ kxy) * wf).sum(1) / (m * n)
    return xx + yy - 2.0 * xy


def ball_matrices(
    fake: np.ndarray, real: np.ndarray, *, prc_k: int, dc_k: int, batch_size: int,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, D), (N, D) -> three (M, N) bool matrices, radii from the full sets:

    in_real[i, j]:  |x_i - y_j| <= prc_k-NN radius of y_j   (precision)
    in_fake[i, j]:  |x_i - y_j| <= prc_k-NN radius of x_i   (recall)
    in_dense[i, j]: |x_i - y_j| <  dc_k-NN radius of y_j    (density, coverage; Naeem et al. 2020)
    """
    knn = dict(batch_size=batch_size, device=device)
    x, y = as_features(fake, "samples", device=device), as_features(real, "reference", device=device)
    real_nn = nearest_squared_distances(y, k=max(prc_k, dc_k) + 1, **knn)
    fake_nn = nearest_squared_distances(x, k=prc_k + 1, **knn)
    r_real, r_dense = torch.from_numpy(real_nn[:, prc_k]).to(x.device), torch.from_numpy(real_nn[:, dc_k]).to(x.device)
    r_fake = torch.from_numpy(fake_nn[:, prc_k]).to(x.device)
    out = [np.zeros((len(x), len(y)), dtype=bool) for _ in range(3)]
    for rows, cols, d2 in squared_distance_blocks(x, y, batch_size=batch_size, desc="bootstrap balls"):
        out[0][rows, cols] = (d2 <= r_real[None, cols]).cpu().numpy()
        out[1][rows, cols] = (d2 <= r_fake[rows, None]).cpu().numpy()
        out[2][rows, cols] = (d2 < r_dense[None, cols]).cpu().numpy()
    return out[0], out[1], out[2]


def knn_replicates(
    in_real: np.ndarray, in_fake: np.ndarray, in_dense: np.ndarray, u: np.ndarray, w: np.ndarray, *, dc_k: int
) -> dict[str, np.ndarray]:
    """Ball matrices (M, N) and multiplicities (B, M), (B, N) -> {precision, recall, density, coverage}: (B,) each."""
    uf, wf = u.astype(np.float32), w.astype(np.float32)
    drawn_u, drawn_w = (uf > 0).astype(np.float32), (wf > 0).astype(np.float32)
    m, n = in_real.shape
    sample_inside = (drawn_w @ in_real.T.astype(np.float32)) > 0      # (B, M): some drawn reference ball holds it
    reference_inside = (drawn_u @ in_fake.astype(np.float32)) > 0     # (B, N)
    dense = in_dense.astype(np.float32)
    covered = (drawn_u @ dense) > 0                                   # (B, N): a drawn sample in its ball
    return {
        K.KEY_PRECISION: (uf * sample_inside).sum(1) / m,
        K.KEY_RECALL: (wf * reference_inside).sum(1) / n,
        K.KEY_DENSITY: ((uf @ dense) * wf).sum(1) / (dc_k * m),
        K.KEY_COVERAGE: (wf * covered).sum(1) / n,
    }


def features_to_replicates(
    fake: np.ndarray,
    real: np.ndarray,
    *,
    sample_copies: np.ndarray,
    reference_copies: np.ndarray,
    prc_k: int,
    dc_k: int,
    resamples: int,
    seed: int | list[int],
    batch_size: int,
    device: str | torch.device = "cpu",
) -> dict[str, list[float]]:
    """Generated (M, D), reference (N, D) features and the (M,), (N,) bool memorisation indicators
    (distance to the subset <= threshold) -> {metric key: `resamples` replicate values}.

    Keys: fd, kid_mean, kid_x1e3, precision, recall, density, coverage, memorisation, memorisation_control,
    memorisation_excess. `seed` seeds the draws (numpy SeedSequence entropy).
    """
    fake, real = np.asarray(fake, np.float32), np.asarray(real, np.float32)
    rng = np.random.default_rng(seed)
    u = bootstrap_weights(len(fake), resamples=resamples, rng=rng)
    w = bootstrap_weights(len(real), resamples=resamples, rng=rng)
    balls = ball_matrices(fake, real, prc_k=prc_k, dc_k=dc_k, batch_size=batch_size, device=device)
    # Hundreds of small (~600 x 600) eigenproblems: one BLAS thread is as fast on an idle machine and
    # far faster on a shared one, where threads wait for each other.
    with threadpool_limits(1):
        out = {K.KEY_FD: fd_replicates(fake, real, u, w), K.KEY_KID_MEAN: kid_replicates(fake, real, u, w)}
    out[K.KEY_KID_X1E3] = K.KID_SCALE * out[K.KEY_KID_MEAN]  # the unit the metrics files store KID in
    out.update(knn_replicates(*balls, u, w, dc_k=dc_k))
    memorised = u @ np.asarray(sample_copies, np.float64) / len(fake)
    control = w @ np.asarray(reference_copies, np.float64) / len(real)
    out.update({K.KEY_MEMORISATION: memorised, K.KEY_MEMORISATION_CONTROL: control,
                K.KEY_MEMORISATION_EXCESS: memorised - control})
    return {key: [float(v) for v in values] for key, values in out.items()}
