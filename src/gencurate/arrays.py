"""The one check of an image array every module that takes images uses."""

from __future__ import annotations

import numpy as np


def check_image_array(array: np.ndarray, *, where: str, channels: tuple[int, ...] = (1, 3)) -> np.ndarray:
    """Return `array` if it is uint8 images [N x H x W x C] with C in `channels`; else raise one line naming `where`."""
    if array.ndim != 4 or array.dtype != np.uint8 or array.shape[-1] not in channels:
        raise ValueError(f"{where}: expected uint8 images (N, H, W, C) with C in {channels}, got {array.dtype} {array.shape}")
    return array
