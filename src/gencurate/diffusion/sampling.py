"""Drawing uint8 images from a trained model, in batches, reproducibly.

Sample i's noise comes from its own generator seeded with (seed, i), so the result for a
given seed does not depend on `batch_size` (nor on how many samples are drawn after it).
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from gencurate.diffusion.checkpoint import load_checkpoint
from gencurate.diffusion.gaussian import GaussianDiffusion
from gencurate.diffusion.reverse_process import Sampler, sample_loop
from gencurate.runtime import resolve_device, resolve_precision

SAMPLE_STREAM = 2  # first SeedSequence word of the sampling noise (data order 0, training steps 1)


def sample_generator(seed: int, index: int, device: torch.device) -> torch.Generator:
    """The generator of sample `index` for `seed`."""
    state = np.random.SeedSequence([SAMPLE_STREAM, seed, index]).generate_state(1, np.uint64)[0] >> 1
    return torch.Generator(device=device).manual_seed(int(state))


def unit_to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [N x C x H x W] in [-1, 1] -> uint8 numpy [N x H x W x C]."""
    scaled = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU that supports it (as in training), full precision on CPU."""
    if resolve_precision("auto", device.type) == "bf16-mixed":
        return functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def generate_images(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    *,
    image_shape: tuple[int, int, int],
    num_samples: int,
    sampler: Sampler | str,
    steps: int,
    eta: float,
    batch_size: int,
    seed: int,
    progress: bool = True,
) -> np.ndarray:
    """Draw `num_samples` images with `model` (on the device of `diffusion`): uint8 [N x H x W x C].

    image_shape: (H, W, C) of the training data.
    """
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"num_samples and batch_size must be >= 1, got {num_samples} and {batch_size}")
    h, w, c = image_shape
    device = diffusion.alpha_bar.device
    autocast = autocast_for(device)
    out = np.empty((num_samples, h, w, c), dtype=np.uint8)
    num_batches = -(-num_samples // batch_size)
    with tqdm(total=num_batches * steps, desc="sampling", unit="step", disable=not progress) as bar:
        for start in range(0, num_samples, batch_size):
            stop = min(start + batch_size, num_samples)
            generators = [sample_generator(seed, i, device) for i in range(start, stop)]
            images = sample_loop(
                model, diffusion, generators, image_shape=(c, h, w), sampler=sampler, steps=steps, eta=eta,
                autocast=autocast, on_step=lambda: bar.update(1),
            )
            out[start:stop] = unit_to_uint8(images)
    return out


def sample_from_checkpoint(
    path: str | Path,
    *,
    num_samples: int,
    sampler: str,
    steps: int,
    eta: float,
    batch_size: int,
    seed: int,
    device: str,
    progress: bool = True,
) -> np.ndarray:
    """Samples of the EMA model stored in a model.ckpt: uint8 [num_samples x H x W x C].

    device: "auto" (a GPU when visible, else CPU), "cpu", "cuda", "cuda:1", ...
    """
    torch_device = resolve_device(device) if device in ("auto", "gpu") else torch.device(device)
    loaded = load_checkpoint(path, map_location=torch_device)
    return generate_images(
        loaded.unet, loaded.diffusion, image_shape=loaded.image_shape, num_samples=num_samples, sampler=sampler,
        steps=steps, eta=eta, batch_size=batch_size, seed=seed, progress=progress,
    )
