"""The `prepare` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gencurate.config.strict import require


@dataclass(frozen=True, kw_only=True)
class PrepareConfig:
    """Mapped 1:1 onto gencurate.data.pipeline.prepare_dataset (see params.yaml for each key)."""

    source: str = "demo"
    image_size: int = 28
    channels: Literal[1, 3] = 1
    min_size: int = 8
    max_image_pixels: int = 89_478_485
    near_duplicate_distance: int = 6
    near_duplicate_pixel_distance: float = 8.0
    near_duplicate_colour: bool = True
    # Which prepared images get the crop check (a centre-region hash and crop-aligned thumbnails):
    # on grey images it merged distinct pictures (benchmarks/results/dedup_crop.json).
    near_duplicate_crop: Literal["colour", "all", "none"] = "colour"
    reference_fraction: float = 0.15
    validation_fraction: float = 0.05  # share of all kept images held out for training-time curves
    use_source_split: bool = True
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        require(self.source.strip() != "", "prepare.source", "must name 'demo', an image folder, an archive or a .npz")
        require(self.image_size >= 8, "prepare.image_size", "must be >= 8")
        require(self.min_size >= 1, "prepare.min_size", "must be >= 1")
        require(self.max_image_pixels > 0, "prepare.max_image_pixels", "must be > 0")
        require(-1 <= self.near_duplicate_distance <= 32, "prepare.near_duplicate_distance", "must be in [-1, 32] (-1 disables)")
        require(self.near_duplicate_pixel_distance == -1 or self.near_duplicate_pixel_distance >= 0,
                "prepare.near_duplicate_pixel_distance", "must be >= 0, or -1 to trust the hash alone")
        require(0.0 <= self.reference_fraction < 1.0, "prepare.reference_fraction", "must be in [0, 1)")
        require(0.0 <= self.validation_fraction < 1.0, "prepare.validation_fraction", "must be in [0, 1)")
        require(self.reference_fraction + self.validation_fraction < 1.0, "prepare.validation_fraction",
                "plus prepare.reference_fraction must leave training images (sum < 1)")
        require(self.workers >= 0, "prepare.workers", "must be >= 0 (0 = all cores)")

    @property
    def crop_check(self) -> bool:
        """Whether near-duplicate search also looks for small crops, for this output."""
        return self.near_duplicate_crop == "all" or (self.near_duplicate_crop == "colour" and self.channels == 3)
