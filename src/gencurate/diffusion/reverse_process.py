"""Reverse-process samplers: DDPM ancestral sampling and DDIM with eta, on a subsequence of timesteps.

Both walk a decreasing subsequence tau_1 > ... > tau_S of the T training timesteps
(S = T gives the original chains). Noise is drawn from one generator per sample, so a
sample depends only on its own generator, never on which batch it is drawn in.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence

import torch
from torch import nn

from gencurate.diffusion.gaussian import GaussianDiffusion, gaussian_posterior


class Sampler(str, enum.Enum):
    DDPM = "ddpm"  # ancestral sampling with the posterior variance (Ho et al. 2020 alg. 2)
    DDIM = "ddim"  # Song et al. 2021 (https://arxiv.org/abs/2010.02502) eq. 12; eta = 0 is deterministic


def sampling_timesteps(timesteps: int, steps: int) -> torch.Tensor:
    """S evenly spaced timesteps from T-1 down to 0: [S] int64, strictly decreasing."""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be in [1, {timesteps}], got {steps}")
    return torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long()


def per_sample_noise(generators: Sequence[torch.Generator], shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """One standard-normal draw per generator: [len(generators) x *shape] float32."""
    return torch.stack([torch.randn(tuple(shape), generator=g, device=device) for g in generators])


@torch.no_grad()
def sample_loop(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    generators: Sequence[torch.Generator],
    *,
    image_shape: Sequence[int],
    sampler: Sampler | str,
    steps: int,
    eta: float,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Draw len(generators) images: [N x C x H x W] float32 in [-1, 1].

    image_shape: (C, H, W). Each generator (on the model's device) gives its sample's starting
    noise x_T and every later noise draw. Predicted x0 is clipped to [-1, 1] at each step
    (as in Ho et al. 2020's sampler and improved-diffusion's clip_denoised).
    """
    sampler = Sampler(sampler)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    device = diffusion.alpha_bar.device
    n = len(generators)
    x = per_sample_noise(generators, image_shape, device)
    taus = sampling_timesteps(diffusion.timesteps, steps).tolist()
    one = torch.ones((), dtype=torch.float64, device=device)
    for i, tau in enumerate(taus):
        last = i == len(taus) - 1
        t = torch.full((n,), tau, dtype=torch.long, device=device)
        alpha_bar_t = diffusion.alpha_bar[tau].double()
        alpha_bar_prev = one if last else diffusion.alpha_bar[taus[i + 1]].double()
        with autocast():
            output = model(x, t)
        x0, _ = diffusion.split_prediction(x, t, output.float())
        x0 = x0.clamp(-1, 1)
        if last:
            x = x0
        elif sampler is Sampler.DDPM:
            post = gaussian_posterior(x0, x, alpha_bar_t.expand(n), alpha_bar_prev.expand(n))
            x = post.mean + post.variance.sqrt() * per_sample_noise(generators, image_shape, device)
        else:
            x = _ddim_step(x, x0, alpha_bar_t, alpha_bar_prev, eta, generators, image_shape)
        if on_step is not None:
            on_step()
    return x


def _ddim_step(
    x: torch.Tensor,
    x0: torch.Tensor,
    alpha_bar_t: torch.Tensor,
    alpha_bar_prev: torch.Tensor,
    eta: float,
    generators: Sequence[torch.Generator],
    image_shape: Sequence[int],
) -> torch.Tensor:
    """x_{prev} = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z (Song et al. 2021 eq. 12),
    sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev) (eq. 16)."""
    # eps recomputed from the clipped x0 keeps the step consistent with it (improved-diffusion).
    eps = (x - alpha_bar_t.sqrt().float() * x0) / (1 - alpha_bar_t).sqrt().float()
    sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev)).sqrt()
    direction = (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt()
    x_prev = alpha_bar_prev.sqrt().float() * x0 + direction.float() * eps
    if eta > 0:
        x_prev = x_prev + sigma.float() * per_sample_noise(generators, image_shape, x.device)
    return x_prev
