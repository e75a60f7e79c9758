"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)   (Heusel et al. 2017, https://arxiv.org/abs/1706.08500)

The covariances are float64, accumulated over row blocks with a symmetric rank-k update
(numpy's `b.T @ b` calls BLAS syrk: half the products of a general matrix product) and no
(N, D) float64 copy; tr sqrt(S1 S2) comes from one symmetric eigenvalue problem (no sqrtm).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gencurate.metrics.keys import KEY_FD

BLOCK_BYTES = 16 * 2**20  # float64 working block of the covariance accumulation (rows = BLOCK_BYTES / 8D)


@dataclass(frozen=True)
class GaussianStatistics:
    """mu: (D,) float64 mean; sigma: (D, D) float64 unbiased covariance (np.cov's); n: sample count."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def as_array(features: np.ndarray | torch.Tensor, name: str = "features") -> np.ndarray:
    """(N, D) real features (array or CPU/GPU tensor) -> (N, D) numpy array (float32/float64 kept, others float32)."""
    x = features.detach().cpu().numpy() if torch.is_tensor(features) else np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty (N, D) feature array, got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected real-valued features, got dtype {x.dtype}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if not np.isfinite(x.sum(dtype=np.float64)) and not all(np.isfinite(x[i:i + 4096]).all() for i in range(0, len(x), 4096)):
        raise ValueError(f"{name}: features contain NaN or inf")
    return x


def block_rows(dim: int, batch_size: int | None = None) -> int:
    """Rows per covariance block: `batch_size`, or as many as fit BLOCK_BYTES of float64."""
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return batch_size
    return max(64, BLOCK_BYTES // (8 * dim))


def fd_features_to_prefix_statistics(
    features: np.ndarray | torch.Tensor,
    *,
    sizes: Sequence[int],
    order: np.ndarray | None = None,
    batch_size: int | None = None,
) -> list[GaussianStatistics]:
    """(N, D) features -> the Gaussian fit of the first n rows of `features[order]` for each n in `sizes`.

    One pass over the rows serves every size: running sums of the rows and of their outer
    products (shifted by the whole set's mean, so the float64 sums do not cancel) are read off
    at each prefix end. order: (N,) permutation (None = row order); sizes: increasing, each in [2, N].
    """
    return list(iter_prefix_statistics(features, sizes=sizes, order=order, batch_size=batch_size))


def iter_prefix_statistics(
    features: np.ndarray | torch.Tensor,
    *,
    sizes: Sequence[int],
    order: np.ndarray | None = None,
    batch_size: int | None = None,
) -> Iterator[GaussianStatistics]:
    """`fd_features_to_prefix_statistics` one size at a time (the inputs are checked before the first)."""
    x = as_array(features)
    n, d = x.shape
    sizes = [int(s) for s in sizes]
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 2 or sizes[-1] > n:
        raise ValueError(f"prefix sizes must increase within [2, {n}] (Frechet distance needs 2 samples), got {sizes}")
    if order is not None and (len(order) != n or not np.array_equal(np.sort(order), np.arange(n))):
        raise ValueError("order must be a permutation of the rows")
    step = block_rows(d, batch_size)

    def rows(a: int, b: int) -> np.ndarray:
        return x[a:b] if order is None else x[np.sort(order[a:b])]  # sorted: a gather reads forward

    # Shift by the mean of all rows used (the largest prefix): centred sums in float64.
    shift = sum(rows(a, min(a + step, sizes[-1])).sum(0, dtype=np.float64) for a in range(0, sizes[-1], step))
    shift /= sizes[-1]
    return _prefix_statistics(rows, sizes=sizes, step=step, shift=shift, dim=d)


def _prefix_statistics(rows, *, sizes: list[int], step: int, shift: np.ndarray, dim: int) -> Iterator[GaussianStatistics]:
    """The running sums of `iter_prefix_statistics`; rows(a, b): rows a..b-1 of the ordered set."""
    total = np.zeros(dim)
    gram = np.zeros((dim, dim))
    start = 0
    for size in sizes:
        for a in range(start, size, step):
            block = rows(a, min(a + step, size)).astype(np.float64)
            block -= shift
            total += block.sum(0)
            gram += block.T @ block  # BLAS syrk (numpy sees the transpose pair)
        start = size
        mean = total / size
        sigma = np.outer(mean, mean)  # in place from here: one (D, D) buffer
        sigma *= -size
        sigma += gram
        sigma /= size - 1
        yield GaussianStatistics(mu=shift + mean, sigma=sigma, n=size)


def fd_features_to_statistics(
    features: np.ndarray | torch.Tensor, *, batch_size: int | None = None
) -> GaussianStatistics:
    """(N, D) features -> mean and covariance in float64, accumulated over row blocks (no (N, D) float64 copy)."""
    x = as_array(features)
    if len(x) < 2:
        raise ValueError(f"Frechet distance needs at least 2 samples per set, got {len(x)}")
    return fd_features_to_prefix_statistics(x, sizes=[len(x)], batch_size=batch_size)[0]


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root through eigh (negative round-off eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def covariance_factor(sigma: np.ndarray) -> np.ndarray:
    """(D, D) PSD sigma -> F with F F^T = sigma: Cholesky when sigma is positive definite, else the PSD root."""
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:  # singular (fewer samples than dims, or constant features)
        return _sqrt_psd(sigma)


def sample_factor(rows: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """(n, D) samples and their (D,) mean -> (D, n) factor F with F F^T = their unbiased covariance."""
    centred = rows.astype(np.float64) - mu
    return centred.T / np.sqrt(len(rows) - 1)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, *, factor1: np.ndarray | None = None) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2 (D, D); factor1 (D, r) with factor1 factor1^T = S1 if known.

    With S1 = F F^T, S1 S2 = F (F^T S2) has the same non-zero eigenvalues as the symmetric PSD
    F^T S2 F (r x r), so they are real and >= 0 and one `eigvalsh` gives the trace: no complex
    Schur form (scipy.linalg.sqrtm) and no non-symmetric `eigvals` (torch-fidelity), both slower
    and prone to imaginary round-off.
    """
    f = covariance_factor(sigma1) if factor1 is None else factor1
    w = np.linalg.eigvalsh(f.T @ (sigma2 @ f))
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def fd_statistics_to_metric(
    stat1: GaussianStatistics, stat2: GaussianStatistics, *, factor1: np.ndarray | None = None
) -> dict[str, float]:
    """Two fitted Gaussians -> {KEY_FD: Frechet distance} (>= 0 up to round-off). factor1: see trace_sqrt_product."""
    if stat1.mu.shape != stat2.mu.shape:
        raise ValueError(f"feature dims differ: {stat1.mu.shape[0]} vs {stat2.mu.shape[0]}")
    diff = stat1.mu - stat2.mu
    tr_covmean = trace_sqrt_product(stat1.sigma, stat2.sigma, factor1=factor1)
    return {KEY_FD: float(diff @ diff + np.trace(stat1.sigma) + np.trace(stat2.sigma) - 2.0 * tr_covmean)}


def fd_between(
    stat1: GaussianStatistics, stat2: GaussianStatistics, *, rows1: Callable[[], np.ndarray], rows2: Callable[[], np.ndarray]
) -> float:
    """FD between two fitted sets; the eigenproblem is min(n1, n2, D) square.

    A set with n <= D has a singular covariance whose factor is its centred rows, so the smaller
    set's rows factor its covariance (tr sqrt(S1 S2) = tr sqrt(S2 S1)). rows_i: zero-argument
    callables giving set i's (n_i, D) rows, called only for that factor.
    """
    if stat2.n < stat1.n:
        stat1, stat2, rows1 = stat2, stat1, rows2
    factor = sample_factor(rows1(), stat1.mu) if stat1.n <= len(stat1.mu) else None
    return fd_statistics_to_metric(stat1, stat2, factor1=factor)[KEY_FD]


def fd_features_to_metric(
    features_1: np.ndarray | torch.Tensor, features_2: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """(N1, D), (N2, D) features -> {KEY_FD: Frechet distance between their Gaussian fits}.

    With N1 <= D (e.g. 1,000 samples of 1,280-d features) S1 is singular and the centred samples
    themselves are its factor: (X1 - mu1)^T / sqrt(N1 - 1), so the eigenproblem is N1 x N1.
    """
    x1, x2 = as_array(features_1, "features_1"), as_array(features_2, "features_2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"feature dims differ: {x1.shape[1]} vs {x2.shape[1]}")
    stat1, stat2 = fd_features_to_statistics(x1), fd_features_to_statistics(x2)
    return {KEY_FD: fd_between(stat1, stat2, rows1=lambda: x1, rows2=lambda: x2)}
