"""An encoder-free feature space: shrunken pixels, optionally PCA-whitened.

The control for every encoder-based number: the same metrics on images shrunk to at most
`max_side` pixels a side and flattened, so no network (and no network's training set or
selection geometry) shapes the verdict. A whitened PCA fitted on the train split (the pool
every method picks from, so it favours no method and never sees the evaluation reference)
keeps the leading components at unit variance: FD and KID then weigh every kept direction of
image variation alike (KID's kernel sees x.y / D of order 1, its design scale), and the
near-constant border pixels that would dominate nothing but the noise floor are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.transform import resize
from sklearn.decomposition import PCA

from gencurate.arrays import check_image_array
from gencurate.metrics.keys import PIXEL_PREFIX

CHUNK = 512  # images shrunk at once (bounds the float64 working copy)


def images_to_pixels(images: np.ndarray, *, max_side: int) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, h * w * C) in [0, 1], h, w <= max_side (aspect kept; never enlarged).

    Shrinking low-pass filters first (skimage's anti-aliasing), so the result does not depend on
    where the pixel grid happens to fall.
    """
    images = check_image_array(np.asarray(images) if not isinstance(images, np.ndarray) else images,
                               where="pixel-space images")
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    n, h, w, c = images.shape
    scale = min(1.0, max_side / max(h, w))
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.empty((n, out_h * out_w * c), dtype=np.float32)
    for a in range(0, n, CHUNK):
        chunk = np.asarray(images[a:a + CHUNK], dtype=np.float32) / np.float32(255.0)
        if (out_h, out_w) != (h, w):
            chunk = resize(chunk, (len(chunk), out_h, out_w, c), order=1, anti_aliasing=True, preserve_range=True)
        out[a:a + len(chunk)] = chunk.reshape(len(chunk), -1)
    return out


@dataclass(frozen=True)
class PixelSpace:
    """Shrunken pixels (max_side) -> whitened PCA components (pca; None = the pixels themselves)."""

    max_side: int
    pca: PCA | None

    @property
    def dim(self) -> int:
        return int(self.pca.n_components_) if self.pca is not None else -1

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> float32 (N, K) pixel-space features (K = PCA components, or h * w * C)."""
        pixels = images_to_pixels(images, max_side=self.max_side)
        return pixels if self.pca is None else self.pca.transform(pixels).astype(np.float32)


def fit_pixel_space(
    images: np.ndarray, *, rows: np.ndarray, max_side: int, components: int, max_images: int, seed: int
) -> PixelSpace:
    """uint8 (N, H, W, C) images (may be memory-mapped) and (R,) fitting rows (e.g. the train split) -> a PixelSpace.

    components = 0: raw pixels in [0, 1]; else a whitened PCA of that many components, fitted on
    at most `max_images` of the rows (a seeded choice; only those are read), capped by the pixel count.
    """
    if components == 0:
        return PixelSpace(max_side=max_side, pca=None)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) > max_images:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_images, replace=False))
    pixels = images_to_pixels(images[rows], max_side=max_side)
    k = min(components, pixels.shape[1], len(pixels) - 1)
    if k < 1:
        raise ValueError(f"{len(pixels)} fitting images are too few for a pixel-space PCA")
    pca = PCA(n_components=k, whiten=True, svd_solver="full", random_state=seed).fit(pixels)
    return PixelSpace(max_side=max_side, pca=pca)


def prefixed(metrics: dict[str, float]) -> dict[str, float]:
    """{key: value} -> {'pixel_' + key: value} (the pixel-space names in the metrics file)."""
    return {PIXEL_PREFIX + key: value for key, value in metrics.items()}
