"""Gaussian diffusion: noise schedules, the forward process q, its posterior, and the training loss.

Notation of Ho et al. 2020 (https://arxiv.org/abs/2006.11239): beta_t, alpha_t = 1 - beta_t,
alpha_bar_t = prod_{s<=t} alpha_s; timesteps are 0-based (t = 0 .. T-1).
Images are float tensors in [-1, 1], [N x C x H x W].
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class Schedule(str, enum.Enum):
    LINEAR = "linear"  # Ho et al. 2020: beta from 1e-4 to 0.02 over T = 1000
    COSINE = "cosine"  # Nichol & Dhariwal 2021 (https://arxiv.org/abs/2102.09672) eq. 17


class Prediction(str, enum.Enum):
    EPS = "eps"  # the network predicts the noise (Ho et al. 2020)
    V = "v"  # v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022, https://arxiv.org/abs/2202.00512 sec. 4)


COSINE_OFFSET = 0.008  # s of Nichol & Dhariwal 2021 eq. 17
MAX_BETA = 0.999  # their clipping, "to prevent singularities at the end of the diffusion process near t = T"


def beta_schedule(schedule: Schedule | str, timesteps: int) -> torch.Tensor:
    """Betas [T] float64 for a named schedule."""
    schedule = Schedule(schedule)
    if schedule is Schedule.LINEAR:
        # Scaled so that any T keeps the T = 1000 endpoints' total noise (improved-diffusion).
        scale = 1000 / timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=MAX_BETA)


class Posterior(NamedTuple):
    """q(x_{t-1} | x_t, x_0) = N(mean, variance); log_variance is clipped at t = 0 (variance 0 there)."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor


def gaussian_posterior(
    x0: torch.Tensor, xt: torch.Tensor, alpha_bar_t: torch.Tensor, alpha_bar_prev: torch.Tensor
) -> Posterior:
    """Posterior of one (possibly respaced) step from alpha_bar_t to alpha_bar_prev (Ho et al. 2020 eq. 6-7).

    x0, xt: [N x C x H x W]; alpha_bar_t, alpha_bar_prev: [N] (float64 or float32).
    With alpha_t = alpha_bar_t / alpha_bar_prev and beta_t = 1 - alpha_t:
        mean = sqrt(alpha_bar_prev) beta_t / (1 - alpha_bar_t) x0 + sqrt(alpha_t) (1 - alpha_bar_prev) / (1 - alpha_bar_t) xt
        variance = beta_t (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    """
    alpha_t = alpha_bar_t / alpha_bar_prev
    beta_t = 1 - alpha_t
    coef_x0 = alpha_bar_prev.sqrt() * beta_t / (1 - alpha_bar_t)
    coef_xt = alpha_t.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    variance = beta_t * (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    mean = _bcast(coef_x0, x0) * x0 + _bcast(coef_xt, xt) * xt
    # The variance is 0 at the first step; DDPM clips its log to the next step's (improved-diffusion).
    log_variance = variance.clamp(min=1e-20).log()
    return Posterior(mean, _bcast(variance, x0).to(x0.dtype), _bcast(log_variance, x0).to(x0.dtype))


class GaussianDiffusion(nn.Module):
    """The forward process and the loss for T timesteps. Keyword-only; 1:1 with params.yaml `train.diffusion`.

    Schedule tables are float32 buffers computed in float64 and not saved in checkpoints
    (they are rebuilt from the config).
    """

    def __init__(
        self,
        *,
        timesteps: int,
        schedule: Schedule | str,
        prediction: Prediction | str,
        min_snr_gamma: float | None,
    ) -> None:
        super().__init__()
        if timesteps < 2:
            raise ValueError(f"GaussianDiffusion: timesteps must be >= 2, got {timesteps}")
        if min_snr_gamma is not None and min_snr_gamma <= 0:
            raise ValueError(f"GaussianDiffusion: min_snr_gamma must be > 0 or None, got {min_snr_gamma}")
        self.timesteps = timesteps
        self.schedule = Schedule(schedule)
        self.prediction = Prediction(prediction)
        self.min_snr_gamma = min_snr_gamma
        betas = beta_schedule(self.schedule, timesteps)
        alpha_bar = torch.cumprod(1 - betas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        for name, value in {
            "betas": betas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": alpha_bar_prev,
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
        }.items():
            self.register_buffer(name, value.float(), persistent=False)

    # --- forward process -------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise (Ho et al. 2020 eq. 4).

        x0, noise: [N x C x H x W]; t: [N] int64 in [0, T).
        """
        return _gather(self.sqrt_alpha_bar, t, x0) * x0 + _gather(self.sqrt_one_minus_alpha_bar, t, x0) * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> Posterior:
        """q(x_{t-1} | x_t, x_0) of the full T-step chain; t: [N] int64."""
        return gaussian_posterior(x0, xt, self.alpha_bar[t].double(), self.alpha_bar_prev[t].double())

    # --- prediction types ------------------------------------------------------------
    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output: eps, or v (Salimans & Ho 2022 sec. 4)."""
        if self.prediction is Prediction.EPS:
            return noise
        return eps_to_v(noise, x0, self.alpha_bar[t])

    def split_prediction(
        self, xt: torch.Tensor, t: torch.Tensor, model_output: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) implied by the network output at x_t; t: [N] int64 indices of the full chain."""
        alpha_bar = self.alpha_bar[t]
        if self.prediction is Prediction.EPS:
            eps = model_output
            x0 = (xt - _bcast(1 - alpha_bar, xt).sqrt() * eps) / _bcast(alpha_bar, xt).sqrt()
            return x0, eps
        return v_to_x0(model_output, xt, alpha_bar), v_to_eps(model_output, xt, alpha_bar)

    # --- training ----------------------------------------------------------------------
    def loss_weights(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample loss weights [N]: 1 (the simple loss), or Min-SNR-gamma (Hang et al. 2023,
        https://arxiv.org/abs/2303.09556 eq. 9 and sec. 3.4): min(SNR, gamma) / SNR for eps and
        min(SNR, gamma) / (SNR + 1) for v, so the easy low-noise steps stop dominating training."""
        if self.min_snr_gamma is None:
            return torch.ones(t.shape, device=t.device)
        snr = self.alpha_bar[t] / (1 - self.alpha_bar[t])
        clipped = snr.clamp(max=self.min_snr_gamma)
        return clipped / snr if self.prediction is Prediction.EPS else clipped / (snr + 1)

    def loss(
        self, model: nn.Module, x0: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Simple loss of Ho et al. 2020 eq. 14 (MSE on eps, or on v), optionally Min-SNR weighted: scalar.

        x0: [N x C x H x W] in [-1, 1]; t ~ U{0..T-1} and the noise are drawn from `generator`.
        """
        t = torch.randint(0, self.timesteps, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        prediction = model(self.q_sample(x0, t, noise), t)
        per_sample = F.mse_loss(prediction.float(), self.target(x0, noise, t).float(), reduction="none").flatten(1).mean(1)
        return (self.loss_weights(t) * per_sample).mean()


# --- v <-> eps <-> x0 (Salimans & Ho 2022 sec. 4; alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar)) ---
def eps_to_v(eps: torch.Tensor, x0: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """v = alpha eps - sigma x0."""
    return _bcast(alpha_bar, x0).sqrt() * eps - _bcast(1 - alpha_bar, x0).sqrt() * x0


def v_to_x0(v: torch.Tensor, xt: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x0 = alpha x_t - sigma v."""
    return _bcast(alpha_bar, xt).sqrt() * xt - _bcast(1 - alpha_bar, xt).sqrt() * v


def v_to_eps(v: torch.Tensor, xt: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """eps = sigma x_t + alpha v."""
    return _bcast(1 - alpha_bar, xt).sqrt() * xt + _bcast(alpha_bar, xt).sqrt() * v


def _bcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N] -> [N x 1 x 1 x 1] (as many singleton dims as `like` needs)."""
    return values.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def _gather(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return _bcast(table[t], like)
