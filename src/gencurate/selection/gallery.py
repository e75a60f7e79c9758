"""Galleries of what a method picked: a seeded random sample of its picks and its least typical picks."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from gencurate.arrays import check_image_array

GALLERY_DIR = "gallery"  # inside paths.selection_report: <method>.png
N_RANDOM = 64  # random picks shown (8 x 8)
N_LEAST_TYPICAL = 16  # least typical picks shown (2 x 8)
COLUMNS = 8


def picks_to_gallery_rows(picks: np.ndarray, typicality: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(M,) picked rows, (N,) typicality -> (up to N_RANDOM picks drawn with `seed`, sorted;
    up to N_LEAST_TYPICAL least typical picks, least typical first; ties: lowest row)."""
    picks = np.sort(np.asarray(picks, dtype=np.int64))
    shown = np.sort(np.random.default_rng(seed).choice(picks, size=min(N_RANDOM, len(picks)), replace=False))
    least = picks[np.lexsort((picks, typicality[picks]))][:N_LEAST_TYPICAL]
    return shown, least


def images_to_mosaic(images: np.ndarray, columns: int = COLUMNS) -> np.ndarray:
    """(M, H, W, C) uint8 -> (rows * (H + 1) - 1, columns * (W + 1) - 1, C) uint8 tiles on white, 1 px gaps."""
    m, h, w, c = check_image_array(images, where="gallery images").shape
    rows = max(1, math.ceil(m / columns))
    mosaic = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1, c), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, q = divmod(i, columns)
        mosaic[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = image
    return mosaic


def gallery_figure(random_images: np.ndarray, least_typical_images: np.ndarray, *, title: str) -> Figure:
    """Two mosaics, (N_RANDOM, H, W, C) random picks above (N_LEAST_TYPICAL, H, W, C) least typical ones."""
    top, bottom = images_to_mosaic(random_images), images_to_mosaic(least_typical_images)
    fig = Figure(figsize=(3.6, 3.6 * (top.shape[0] + bottom.shape[0]) / top.shape[1] + 0.8), dpi=110)
    axes = fig.subplots(2, 1, height_ratios=[top.shape[0], bottom.shape[0]])
    for ax, mosaic, caption in ((axes[0], top, f"{len(random_images)} random picks"),
                                (axes[1], bottom, f"{len(least_typical_images)} least typical picks")):
        gray = mosaic.shape[2] == 1
        ax.imshow(mosaic[..., 0] if gray else mosaic, cmap="gray" if gray else None, vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(caption, fontsize=8)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
