"""The `independence` section: how selection and evaluation spaces are compared."""

from __future__ import annotations

from dataclasses import dataclass

from gencurate.config.strict import require


@dataclass(frozen=True, kw_only=True)
class IndependenceConfig:
    neighbours: int = 10
    pixels: bool = True
    pixel_size: int = 32

    def __post_init__(self) -> None:
        require(self.neighbours >= 1, "independence.neighbours", "must be >= 1")
        require(self.pixel_size >= 1, "independence.pixel_size", "must be >= 1")
