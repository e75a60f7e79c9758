"""The one check of an image array every module that takes images uses."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

ImageRows = TypeVar("ImageRows")  # np.ndarray, np.memmap or gencurate.npyrows.NpyRows: anything with .shape and .dtype


def check_image_array(array: ImageRows, *, where: str, channels: tuple[int, ...] = (1, 3)) -> ImageRows:
    """Return `array` if it is uint8 images [N x H x W x C] with C in `channels`; else raise one line naming `where`.

    Reads only `.shape` and `.dtype`, so a memory map or an `NpyRows` file is checked without reading its rows.
    """
    shape, dtype = getattr(array, "shape", None), getattr(array, "dtype", None)
    if shape is None or dtype is None or len(shape) != 4 or dtype != np.uint8 or shape[-1] not in channels:
        got = f"{dtype} {tuple(shape)}" if shape is not None and dtype is not None else type(array).__name__
        raise ValueError(f"{where}: expected uint8 images (N, H, W, C) with C in {channels}, got {got}")
    return array
