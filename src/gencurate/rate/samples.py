"""The models a rater compares: one uint8 sample array per (method, seed) of the study.

A request names an image only by (method, seed, index); it is checked against the arrays
loaded here, so nothing a browser sends ever becomes a filesystem path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from gencurate.arrays import check_image_array
from gencurate.config import PathsConfig, StudyConfig
from gencurate.io import read_npy

ModelKey = tuple[str, int]  # (method, seed)

# Displayed side in pixels: samples are blown up by the largest integer factor that fits,
# with nearest-neighbour scaling so a 28-pixel sample shows its real pixels, not a blur.
DISPLAY_PX = 256


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """One sample of one model: `samples[(method, seed)][index]`."""

    method: str
    seed: int
    index: int

    @property
    def url(self) -> str:
        return f"/api/image/{self.method}/{self.seed}/{self.index}.png"

    def as_dict(self) -> dict:
        return {"method": self.method, "seed": self.seed, "index": self.index, "url": self.url}


def check_rating_samples(array: np.ndarray, where: str) -> np.ndarray:
    """A sample array a rater can see: uint8 [n x H x W x C], C in {1, 3}, n >= 1."""
    check_image_array(array, where=where)
    if array.shape[0] < 1:
        raise ValueError(f"{where}: holds no samples")
    return array


def load_study_samples(paths: PathsConfig, study: StudyConfig) -> dict[ModelKey, np.ndarray]:
    """Memory-map `paths.samples_file(method, seed)` for every study item that has one.

    Returns {(method, seed): (n, H, W, C) uint8}, in study order. Items without samples
    are skipped (the sample stage may not have run for them yet).
    """
    samples: dict[ModelKey, np.ndarray] = {}
    for method in study.methods:
        for seed in study.seeds:
            path = paths.samples_file(method, seed)
            if path.is_file():
                samples[(method, seed)] = check_rating_samples(read_npy(path), str(path))
    return samples


def require_two_methods(samples: dict[ModelKey, np.ndarray], paths: PathsConfig) -> None:
    """Pairwise rating needs samples of at least two different methods."""
    methods = sorted({method for method, _ in samples})
    if len(methods) < 2:
        found = ", ".join(f"{m}/seed{s}" for m, s in samples) or "none"
        raise ValueError(
            f"rating needs samples of at least two methods under {paths.samples}/ (found: {found}); "
            "run `dvc repro` (or `gencurate sample`) first"
        )


def resolve_ref(samples: dict[ModelKey, np.ndarray], method: str, seed: int, index: int) -> ImageRef:
    """An `ImageRef` known to exist in `samples`, or a one-line `LookupError` saying why not."""
    if not any(m == method for m, _ in samples):
        known = ", ".join(sorted({m for m, _ in samples}))
        raise LookupError(f"unknown method {method!r}; rated methods: {known}")
    array = samples.get((method, seed))
    if array is None:
        seeds = ", ".join(str(s) for m, s in samples if m == method)
        raise LookupError(f"method {method!r} has no samples for seed {seed}; seeds: {seeds}")
    if not 0 <= index < array.shape[0]:
        raise LookupError(f"index {index} out of range for {method}/seed{seed} (0..{array.shape[0] - 1})")
    return ImageRef(method=method, seed=seed, index=index)


def display_scale(height: int, width: int, display_px: int = DISPLAY_PX) -> int:
    """Largest integer upscaling factor (>= 1) that keeps the longer side within `display_px`."""
    return max(1, display_px // max(height, width))


def sample_to_png(image: np.ndarray, *, display_px: int = DISPLAY_PX) -> bytes:
    """(H, W, C) uint8 -> PNG bytes, enlarged by an integer factor with nearest-neighbour scaling."""
    height, width, channels = image.shape
    pil = Image.fromarray(np.ascontiguousarray(image[..., 0] if channels == 1 else image))
    scale = display_scale(height, width, display_px)
    if scale > 1:
        pil = pil.resize((width * scale, height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()
