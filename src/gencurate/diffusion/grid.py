"""Sample grids: a square mosaic of uint8 images, upscaled with nearest-neighbour so 28-pixel images are visible."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from gencurate.arrays import check_image_array

GRID_SIDE = 8  # 8 x 8 = 64 images
MIN_CELL_PIXELS = 80  # upscale until each image is at least this many pixels wide


def images_to_grid(images: np.ndarray, *, nrow: int = GRID_SIDE, min_cell: int = MIN_CELL_PIXELS) -> Image.Image:
    """uint8 [N x H x W x C] (C = 1 or 3) -> a PIL image of the first nrow^2 images, nrow per row."""
    check_image_array(images, where="sample grid")
    if len(images) == 0:
        raise ValueError("sample grid: no images")
    scale = max(1, math.ceil(min_cell / images.shape[1]))
    batch = torch.from_numpy(np.ascontiguousarray(images[: nrow * nrow])).permute(0, 3, 1, 2)
    batch = batch.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)  # nearest-neighbour
    grid = make_grid(batch, nrow=nrow, padding=2 * scale, pad_value=255)  # [C' x H' x W'] uint8
    array = grid.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if images.shape[-1] == 1 else array)
