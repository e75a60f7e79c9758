"""The `sample` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gencurate.config.strict import require


@dataclass(frozen=True, kw_only=True)
class SampleConfig:
    num_samples: int = 1000
    sampler: Literal["ddim", "ddpm"] = "ddim"
    steps: int = 10
    eta: float = 0.0
    batch_size: int = 250
    seed: int = 0                 # sample i of training seed s draws its noise from (seed + s, i)
    accelerator: str = "auto"     # auto | cpu | cuda | cuda:<index>
    concurrent_seeds: int = 2     # seeds of one method sampled at once, one process each on cores / N threads

    def __post_init__(self) -> None:
        require(self.num_samples >= 1, "sample.num_samples", "must be >= 1")
        require(self.steps >= 1, "sample.steps", "must be >= 1")
        require(self.eta >= 0, "sample.eta", "must be >= 0")
        require(self.batch_size >= 1, "sample.batch_size", "must be >= 1")
        require(self.concurrent_seeds >= 1, "sample.concurrent_seeds", "must be >= 1")
