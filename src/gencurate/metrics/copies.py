"""Pixel-space confirmation of memorisation: the samples closest to a training image, compared in pixels.

The feature-space nearest neighbour of each sample (the one memorisation measures) is compared
with it pixel by pixel: SSIM (Wang et al. 2004, https://doi.org/10.1109/TIP.2003.819861) and PSNR,
both from scikit-image. A copy shows SSIM near 1 and a high PSNR; a sample that only shares the
training image's semantics does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gencurate.metrics.keys import KEY_COPY_PSNR, KEY_COPY_SSIM

DATA_RANGE = 255.0  # uint8 images


@dataclass(frozen=True)
class ClosestPairs:
    """The k samples nearest to a training image, closest first.

    samples, train: (k, H, W, C) uint8; sample_index: (k,) rows of the samples; train_id: (k,)
    manifest ids; distance: (k,) feature distances; ssim, psnr: (k,) pixel similarity of each pair.
    """

    samples: np.ndarray
    train: np.ndarray
    sample_index: np.ndarray
    train_id: np.ndarray
    distance: np.ndarray
    ssim: np.ndarray
    psnr: np.ndarray

    def as_arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))


def psnr_ceiling(image_shape: tuple[int, ...]) -> float:
    """PSNR (dB) of two uint8 images of this shape differing by one grey level in one pixel: the
    largest finite value, used for identical pairs (PSNR = inf) so means stay finite."""
    return float(10.0 * np.log10(DATA_RANGE**2 * np.prod(image_shape)))


def pair_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two uint8 (H, W, C) images -> (SSIM, PSNR in dB, identical images at `psnr_ceiling`)."""
    if a.shape != b.shape:
        raise ValueError(f"pair images differ in shape: {a.shape} vs {b.shape}")
    x, y = a.astype(np.float64), b.astype(np.float64)
    # scikit-image's window is 7 pixels and must be odd and fit inside the image.
    win = min(7, *(s if s % 2 else s - 1 for s in a.shape[:2]))
    ssim = structural_similarity(x, y, data_range=DATA_RANGE, channel_axis=-1, win_size=win)
    psnr = psnr_ceiling(a.shape) if np.array_equal(a, b) else peak_signal_noise_ratio(x, y, data_range=DATA_RANGE)
    return float(ssim), float(min(psnr, psnr_ceiling(a.shape)))


def closest_pairs(
    samples: np.ndarray, images: np.ndarray, *, distance: np.ndarray, nearest_id: np.ndarray, k: int
) -> ClosestPairs:
    """The k samples with the smallest distance to their nearest training image, with pixel similarity.

    samples: (M, H, W, C) uint8; images: (N, H, W, C) uint8 prepared images (row = manifest id);
    distance: (M,) feature distance of each sample to its nearest training image; nearest_id:
    (M,) that image's manifest id.
    """
    order = np.argsort(distance, kind="stable")[: min(k, len(distance))]
    ids = np.asarray(nearest_id)[order].astype(np.int64)
    a = np.asarray(samples[order])
    b = np.stack([np.asarray(images[i]) for i in ids]) if len(ids) else np.asarray(images[:0])
    sims = np.array([pair_similarity(x, y) for x, y in zip(a, b)], dtype=np.float64).reshape(-1, 2)
    return ClosestPairs(samples=a, train=b, sample_index=order.astype(np.int64), train_id=ids,
                        distance=np.asarray(distance, np.float64)[order], ssim=sims[:, 0], psnr=sims[:, 1])


def pairs_to_metric(pairs: ClosestPairs) -> dict[str, float]:
    """Closest pairs -> {KEY_COPY_SSIM, KEY_COPY_PSNR}: means over the pairs."""
    return {KEY_COPY_SSIM: float(pairs.ssim.mean()), KEY_COPY_PSNR: float(pairs.psnr.mean())}
