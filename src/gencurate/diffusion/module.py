"""The LightningModule: UNet + Gaussian diffusion, AdamW with linear warm-up, EMA weights.

Every random draw of training step `s` (timesteps, noise, flips, dropout) comes from a
generator seeded with (seed, s, rank), so a run resumed from a checkpoint continues
exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gencurate.config import TrainConfig, to_mapping
from gencurate.diffusion.checkpoint import FINGERPRINT_KEY
from gencurate.diffusion.gaussian import GaussianDiffusion
from gencurate.diffusion.unet import build_unet

STEP_STREAM = 1  # first SeedSequence word of the per-step stream (the data order uses 0)

LOSS_KEY = "train/loss"
LR_KEY = "train/lr"


def step_seed(seed: int, step: int, rank: int) -> int:
    """A 63-bit seed for training step `step` on `rank`."""
    return int(np.random.SeedSequence([STEP_STREAM, seed, step, rank]).generate_state(1, np.uint64)[0] >> 1)


class EmaUpdate:
    """torch's EMA update (`get_ema_multi_avg_fn`) as a picklable object, so the module can be
    sent to ddp_spawn workers (torch returns a closure, which pickle refuses)."""

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def __call__(self, ema_params: Any, current_params: Any, num_averaged: Any) -> None:
        get_ema_multi_avg_fn(self.decay)(ema_params, current_params, num_averaged)


def ema_of(model: torch.nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of `model`'s weights (and buffers); the copy takes no gradients.

    EMA of the weights for sampling: Ho et al. 2020 sec. 4 (decay 0.9999 at 800k steps; short
    runs need a shorter horizon, e.g. 0.995 ~ the last 200 steps).
    """
    ema = AveragedModel(model, multi_avg_fn=EmaUpdate(decay), use_buffers=True)
    return ema.requires_grad_(False)


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N x C x H x W] -> float32 in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def random_hflip(images: torch.Tensor) -> torch.Tensor:
    """Flip each image left-right with probability 1/2 (global RNG; seeded per step)."""
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


class DiffusionModule(L.LightningModule):
    """DDPM training. Keyword-only: `config` is params.yaml `train`, `image_shape` (H, W, C)
    comes from the data, `seed` from the study item; `fingerprint` (see checkpoint.py) is
    stored in every Lightning checkpoint so a rerun can tell whether to resume.

    training_step(batch uint8 [N x C x H x W]) -> scalar loss.
    """

    def __init__(
        self,
        *,
        config: TrainConfig,
        image_shape: Sequence[int],
        seed: int,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters({"train": to_mapping(config), "image_shape": list(image_shape), "seed": seed})
        self.config = config
        self.seed = seed
        self.fingerprint = dict(fingerprint or {})
        self.model = build_unet(to_mapping(config.unet), image_shape)
        self.diffusion = GaussianDiffusion(**to_mapping(config.diffusion))
        self.ema = ema_of(self.model, config.ema_decay)

    # --- training ----------------------------------------------------------------------
    def _step_rng(self) -> contextlib.AbstractContextManager:
        """Fork the global RNG (CPU, and this CUDA device if any) so per-step seeding leaves it untouched."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        return torch.random.fork_rng(devices=devices)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        with self._step_rng():
            torch.manual_seed(step_seed(self.seed, self.global_step, self.global_rank))
            x0 = uint8_to_unit(batch)
            if self.config.hflip:
                x0 = random_hflip(x0)
            loss = self.diffusion.loss(self.model, x0)
        self.log(LOSS_KEY, loss, prog_bar=True)
        self.log(LR_KEY, self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # EMA right after the weights change, before any checkpoint of this step is written.
        self.ema.update_parameters(self.model)

    def configure_optimizers(self) -> dict[str, Any]:
        # foreach: torch picks the multi-tensor path by default only on CUDA; it is faster on CPU too (docs/design.md).
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay, foreach=True
        )
        warmup = max(1, self.config.warmup_steps)
        # Linear warm-up, then constant (Ho et al. 2020 appendix B: 5000 warm-up steps).
        scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup, total_iters=warmup - 1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- checkpoints -------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[FINGERPRINT_KEY] = self.fingerprint

    @property
    def ema_model(self) -> torch.nn.Module:
        """The EMA UNet (what sampling uses)."""
        return self.ema.module

    @property
    def ema_steps(self) -> int:
        """Optimizer steps averaged into the EMA (= training steps done, restored with the checkpoint)."""
        return int(self.ema.n_averaged)
