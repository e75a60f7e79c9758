"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)   (Heusel et al. 2017, https://arxiv.org/abs/1706.08500)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gencurate.metrics.keys import KEY_FD
from gencurate.metrics.knn import DEFAULT_BATCH_SIZE, as_features


@dataclass(frozen=True)
class GaussianStatistics:
    """mu: (D,) float64 mean; sigma: (D, D) float64 unbiased covariance (np.cov's); n: sample count."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def fd_features_to_statistics(
    features: np.ndarray | torch.Tensor, *, batch_size: int = DEFAULT_BATCH_SIZE // 2
) -> GaussianStatistics:
    """(N, D) features -> mean and covariance in float64, accumulated over row blocks.

    Blocks keep the float64 working copy at (batch_size, D) instead of np.cov's two (N, D)
    float64 copies (2 x 512 MB at 50k x 1280).
    """
    x = as_features(features, "features")
    n, d = x.shape
    if n < 2:
        raise ValueError(f"Frechet distance needs at least 2 samples per set, got {n}")
    blocks = range(0, n, batch_size)
    # Two passes (mean, then centred products) for accuracy; each converts one block at a time.
    mu = sum(x[i : i + batch_size].to(torch.float64).sum(0) for i in blocks) / n
    gram = torch.zeros(d, d, dtype=torch.float64)
    for i in blocks:
        block = x[i : i + batch_size].to(torch.float64) - mu
        gram.addmm_(block.T, block)
    return GaussianStatistics(mu=mu.numpy(), sigma=(gram / (n - 1)).numpy(), n=n)


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


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, *, factor1: np.ndarray | None = None) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2 (D, D); factor1 (D, r) with factor1 factor1^T = S1 if known.

    With S1 = F F^T, S1 S2 = F (F^T S2) has the same non-zero eigenvalues as the symmetric PSD
    F^T S2 F (r x r), so they are real and >= 0 and one `eigvalsh` gives the trace: no complex
    Schur form (scipy.linalg.sqrtm) and no non-symmetric `eigvals` (torch-fidelity), both slower
    and prone to imaginary round-off.
    """
    f = covariance_factor(sigma1) if factor1 is None else factor1
    w = np.linalg.eigvalsh(f.T @ sigma2 @ f)
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


def fd_features_to_metric(
    features_1: np.ndarray | torch.Tensor, features_2: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """(N1, D), (N2, D) features -> {KEY_FD: Frechet distance between their Gaussian fits}.

    With N1 <= D (e.g. 1,000 samples of 1,280-d features) S1 is singular and the centred samples
    themselves are its factor: (X1 - mu1)^T / sqrt(N1 - 1), so the eigenproblem is N1 x N1.
    """
    stat1, stat2 = fd_features_to_statistics(features_1), fd_features_to_statistics(features_2)
    factor1 = None
    if stat1.n <= len(stat1.mu):
        x1 = as_features(features_1, "features_1").to(torch.float64)
        factor1 = ((x1 - torch.from_numpy(stat1.mu)).T / np.sqrt(stat1.n - 1)).numpy()
    return fd_statistics_to_metric(stat1, stat2, factor1=factor1)
