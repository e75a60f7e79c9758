"""Decode any Pillow image into the configured (size, size, channels) uint8 array.

One pinned path for every source: open -> EXIF orientation -> 8-bit (high bit depths scaled,
transparency composited on white) -> grayscale or RGB -> largest centred square resized with
Pillow's antialiased bicubic filter in a single `resize(box=...)` call.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from gencurate.data.cleaning import DECOMPRESSION_BOMB, EMPTY, NOT_IMAGE, TOO_SMALL, TRUNCATED, UNREADABLE

# Pillow's bicubic resize widens its kernel when downscaling, i.e. it is properly antialiased;
# clean-fid shows other libraries' resizers alias and shift FID (Parmar et al. 2022,
# https://arxiv.org/abs/2104.11222). Pinned here so every source takes the same path.
RESAMPLE = Image.Resampling.BICUBIC
WHITE = (255, 255, 255, 255)
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
UINT16_MAX = 65535


@dataclass(frozen=True)
class Decoded:
    """pixels: (size, size, channels) uint8; width/height/mode of the original (EXIF-oriented)."""

    pixels: np.ndarray
    width: int
    height: int
    mode: str


@dataclass(frozen=True)
class Failure:
    reason: str
    detail: str


@contextlib.contextmanager
def _pillow_limits(max_image_pixels: int) -> Iterator[None]:
    """Bomb limit from params; the bomb warning becomes an error; truncated files stay errors."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_image_pixels, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the pixels still decode
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def to_8bit(image: Image.Image) -> Image.Image:
    """Any mode -> 'L', 'RGB' or 'RGBA' (8 bits per channel).

    16-bit integer images are scaled by 255/65535 (Pillow's own convert would clip at 255);
    32-bit 'I' is read as 16-bit data (what PNG/TIFF store in it); float 'F' as [0, 1].
    """
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float64)
        return Image.fromarray(np.round(np.clip(values, 0, UINT16_MAX) * (255 / UINT16_MAX)).astype(np.uint8), "L")
    if mode == "F":
        values = np.asarray(image).astype(np.float64)
        return Image.fromarray(np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8), "L")
    if mode in ALPHA_MODES or "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX, ...


def to_channels(image: Image.Image, channels: int) -> Image.Image:
    """8-bit image -> 'L' (channels=1, ITU-R 601 luma) or 'RGB' (channels=3); alpha over white."""
    if image.mode == "RGBA":
        image = Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image).convert("RGB")
    return image.convert("L" if channels == 1 else "RGB")


def centre_crop_resize(image: Image.Image, size: int) -> Image.Image:
    """Largest centred square, resized to (size, size) in one antialiased step (sub-pixel box)."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    return image.resize((size, size), RESAMPLE, box=(left, top, left + side, top + side))


def image_to_pixels(image: Image.Image, *, image_size: int, channels: int) -> np.ndarray:
    """Oriented Pillow image of any mode -> (image_size, image_size, channels) uint8."""
    out = centre_crop_resize(to_channels(to_8bit(image), channels), image_size)
    pixels = np.asarray(out, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _classify(err: Exception) -> Failure:
    text = f"{type(err).__name__}: {err}".replace("\n", " ")
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return Failure(DECOMPRESSION_BOMB, text)
    if isinstance(err, UnidentifiedImageError):
        return Failure(NOT_IMAGE, "Pillow cannot identify the file as an image")
    if "truncated" in str(err).lower():
        return Failure(TRUNCATED, text)
    return Failure(UNREADABLE, text)


def decode_image(data: bytes, *, image_size: int, channels: int, min_size: int, max_image_pixels: int) -> Decoded | Failure:
    """Encoded file bytes -> `Decoded`, or the `Failure` (reason, detail) that removes it."""
    if not data:
        return Failure(EMPTY, "zero-byte file")
    try:
        with _pillow_limits(max_image_pixels):
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # decode fully here: truncation and corrupt data surface now
                mode = image.mode
                oriented = ImageOps.exif_transpose(image)
    except Exception as err:  # Pillow raises many types for corrupt data (OSError, SyntaxError, ValueError, ...)
        return _classify(err)
    return _finish(oriented, mode, image_size=image_size, channels=channels, min_size=min_size)


def decode_pixels(pixels: np.ndarray, *, image_size: int, channels: int, min_size: int) -> Decoded | Failure:
    """Raw (H, W) or (H, W, C) uint8 pixels (the demo) through the same conversion path."""
    image = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels)
    return _finish(image, image.mode, image_size=image_size, channels=channels, min_size=min_size)


def _finish(image: Image.Image, mode: str, *, image_size: int, channels: int, min_size: int) -> Decoded | Failure:
    w, h = image.size
    if min(w, h) < min_size:
        return Failure(TOO_SMALL, f"{w}x{h}: shorter side {min(w, h)} < prepare.min_size {min_size}")
    try:
        pixels = image_to_pixels(image, image_size=image_size, channels=channels)
    except Exception as err:  # e.g. a mode Pillow opens but cannot convert
        return _classify(err)
    return Decoded(pixels, w, h, mode)
