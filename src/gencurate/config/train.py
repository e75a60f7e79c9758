"""The `train` section (with its `unet` and `diffusion` sub-sections)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from gencurate.config.strict import require


def unet_level_sides(image_size: int, levels: int) -> list[int]:
    """Feature-map side at each UNet level: the image side, then ceil-halved per level after
    the first (a stride-2 conv with padding 1), e.g. [28, 14, 7] for 28 and three levels."""
    sides = [image_size]
    for _ in range(levels - 1):
        sides.append(-(-sides[-1] // 2))
    return sides


@dataclass(frozen=True, kw_only=True)
class UNetConfig:
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (7,)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        require(self.base_channels >= 4, "train.unet.base_channels", "must be >= 4")
        require(len(self.channel_mults) >= 1, "train.unet.channel_mults", "list at least one level")
        require(self.num_res_blocks >= 1, "train.unet.num_res_blocks", "must be >= 1")
        require(0.0 <= self.dropout < 1.0, "train.unet.dropout", "must be in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class DiffusionConfig:
    timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "cosine"
    prediction: Literal["eps", "v"] = "v"
    min_snr_gamma: float | None = 5.0  # Min-SNR-gamma loss weighting (Hang et al. 2023); None = the simple loss

    def __post_init__(self) -> None:
        require(self.timesteps >= 2, "train.diffusion.timesteps", "must be >= 2")
        require(self.min_snr_gamma is None or self.min_snr_gamma > 0, "train.diffusion.min_snr_gamma", "must be > 0 or null")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    steps: int = 800
    steps_by_method: dict[str, int] = field(default_factory=dict)  # per-method override of `steps`
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    hflip: bool = True
    num_workers: int = 0
    log_every_n_steps: int = 25
    sample_every_n_steps: int = 800
    checkpoint_every_n_steps: int = 200
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    concurrent_seeds: int = 2  # seeds of one method trained at once, one process each on cores / N threads
    eval_every_n_steps: int = 200  # validation curve point every N steps and at the last; 0 = no curves
    eval_num_samples: int = 128
    eval_bootstrap_rounds: int = 20  # bootstrap draws of the last point's FD (the noise its slope is judged by)
    unet: UNetConfig = field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    def __post_init__(self) -> None:
        require(self.steps >= 1, "train.steps", "must be >= 1")
        require(self.batch_size >= 1, "train.batch_size", "must be >= 1")
        require(self.lr > 0, "train.lr", "must be > 0")
        require(self.warmup_steps >= 0, "train.warmup_steps", "must be >= 0")
        require(0.0 <= self.ema_decay < 1.0, "train.ema_decay", "must be in [0, 1)")
        require(self.grad_clip >= 0, "train.grad_clip", "must be >= 0 (0 disables)")
        for key in ("log_every_n_steps", "sample_every_n_steps", "checkpoint_every_n_steps", "devices", "num_nodes"):
            require(getattr(self, key) >= 1, f"train.{key}", "must be >= 1")
        require(self.num_workers >= 0, "train.num_workers", "must be >= 0")
        require(self.concurrent_seeds >= 1, "train.concurrent_seeds", "must be >= 1")
        require(self.concurrent_seeds == 1 or (self.devices == 1 and self.num_nodes == 1), "train.concurrent_seeds",
                "must be 1 when a run spans several devices or nodes (train.devices / train.num_nodes)")
        for method, steps in self.steps_by_method.items():
            require(steps >= 1, f"train.steps_by_method.{method}", f"must be >= 1, got {steps}")
        require(self.eval_every_n_steps >= 0, "train.eval_every_n_steps", "must be >= 0 (0 = no curves)")
        require(self.eval_num_samples >= 2, "train.eval_num_samples", "must be >= 2")
        require(self.eval_bootstrap_rounds >= 2, "train.eval_bootstrap_rounds", "must be >= 2")

    def steps_for(self, method: str) -> int:
        """Training steps of `method`: its `steps_by_method` entry, else `steps`."""
        return self.steps_by_method.get(method, self.steps)

    def for_method(self, method: str) -> TrainConfig:
        """This config with `steps` resolved for `method` and no per-method table: what one run uses,
        so a run's fingerprint and checkpoint do not change when another method's budget does."""
        return dataclasses.replace(self, steps=self.steps_for(method), steps_by_method={})
