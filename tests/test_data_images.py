"""Decoding any Pillow mode into (size, size, channels) uint8: hand-computed pixel values."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gencurate.data.cleaning import DECOMPRESSION_BOMB, EMPTY, NOT_IMAGE, TOO_SMALL, TRUNCATED, UNREADABLE
from gencurate.data.images import Decoded, Failure, centre_crop_resize, decode_image, decode_pixels

BIG = 89_478_485


def encode(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def decode(data: bytes, size: int = 8, channels: int = 1, min_size: int = 1, max_pixels: int = BIG):
    return decode_image(data, image_size=size, channels=channels, min_size=min_size, max_image_pixels=max_pixels)


def test_gray_at_native_size_is_unchanged():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    out = decode(encode(Image.fromarray(pixels)), size=28)
    assert isinstance(out, Decoded) and out.mode == "L" and (out.width, out.height) == (28, 28)
    assert out.pixels.shape == (28, 28, 1) and out.pixels.dtype == np.uint8
    np.testing.assert_array_equal(out.pixels[..., 0], pixels)
    # the demo's raw pixels take the same path
    np.testing.assert_array_equal(decode_pixels(pixels, image_size=28, channels=1, min_size=1).pixels, out.pixels)


@pytest.mark.parametrize(
    ("image", "channels", "expected"),
    [
        (Image.new("L", (16, 16), 77), 3, (77, 77, 77)),
        (Image.new("RGB", (16, 16), (255, 0, 0)), 1, (76,)),              # ITU-R 601 luma of red: 0.299 * 255
        (Image.new("RGB", (16, 16), (10, 20, 30)), 3, (10, 20, 30)),
        (Image.new("1", (16, 16), 1), 1, (255,)),
        (Image.new("LA", (16, 16), (0, 0)), 1, (255,)),                   # fully transparent black -> white
        (Image.new("LA", (16, 16), (0, 255)), 1, (0,)),                   # opaque black stays black
        (Image.new("RGBA", (16, 16), (255, 0, 0, 0)), 3, (255, 255, 255)),
        (Image.new("RGBA", (16, 16), (255, 0, 0, 255)), 3, (255, 0, 0)),
        (Image.new("RGBA", (16, 16), (0, 0, 0, 128)), 3, (127, 127, 127)),  # half alpha over white
        (Image.new("CMYK", (16, 16), (0, 0, 0, 0)), 3, (255, 255, 255)),
        (Image.new("CMYK", (16, 16), (0, 255, 255, 0)), 3, (255, 0, 0)),
        (Image.new("YCbCr", (16, 16), (255, 128, 128)), 1, (255,)),
    ],
    ids=["L->3", "RGB->1", "RGB->3", "1", "LA-clear", "LA-opaque", "RGBA-clear", "RGBA-opaque", "RGBA-half",
         "CMYK-white", "CMYK-red", "YCbCr"],
)
def test_modes_give_expected_pixels(image, channels, expected):
    fmt = "JPEG" if image.mode in ("CMYK", "YCbCr") else "TIFF" if image.mode == "LA" else "PNG"
    out = decode(encode(image, fmt), channels=channels)
    assert isinstance(out, Decoded), out
    assert out.pixels.shape == (8, 8, channels)
    np.testing.assert_allclose(out.pixels.reshape(-1, channels).mean(0), expected, atol=2)
    assert out.mode == image.mode or fmt == "JPEG"


def test_palette_with_transparent_index_is_white():
    image = Image.new("P", (16, 16), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(0, (0, 0, 8, 16))  # left half: index 0 (declared transparent), right half: blue
    for fmt in ("PNG", "GIF"):
        out = decode(encode(image, fmt, transparency=0), size=16, channels=3)
        assert out.mode == "P"
        np.testing.assert_array_equal(out.pixels[:, :6], 255)
        np.testing.assert_array_equal(out.pixels[:, 10:], np.broadcast_to([0, 0, 255], (16, 6, 3)))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_is_scaled_not_clipped(fmt):
    values = np.array([[0, 257 * 100], [32768, 65535]], dtype=np.uint16).repeat(8, 0).repeat(8, 1)
    out = decode(encode(Image.fromarray(values), fmt), size=16)
    assert out.mode.startswith("I")
    np.testing.assert_array_equal(out.pixels[[0, 0, 15, 15], [0, 15, 0, 15], 0], [0, 100, 128, 255])


def test_float_mode_reads_unit_range():
    values = np.full((16, 16), 0.5, dtype=np.float32)
    out = decode(encode(Image.fromarray(values), "TIFF"), size=16)
    assert out.mode == "F" and np.all(out.pixels == 128)


def test_exif_rotation_is_honoured():
    # Stored 48 wide x 32 high: left half black, right half white. EXIF orientation 6 means
    # "rotate 90 degrees clockwise to display": the black half ends on top, size becomes 32x48.
    stored = np.zeros((32, 48), dtype=np.uint8)
    stored[:, 24:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode(encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95), size=32)
    assert (out.width, out.height) == (32, 48)
    assert out.pixels[:12].mean() < 20 and out.pixels[-12:].mean() > 235


def test_centre_crop_keeps_the_middle_square():
    wide = np.zeros((20, 60), dtype=np.uint8)
    wide[:, 20:40] = 200  # the centred 20x20 square
    out = decode(encode(Image.fromarray(wide)), size=20)
    assert np.all(out.pixels == 200)


def test_downscaling_is_antialiased():
    # A 1-pixel checkerboard shrunk 8x: an antialiased filter averages to mid-grey, while a
    # point-sampling resizer would keep 0s and 255s.
    board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    out = np.asarray(centre_crop_resize(Image.fromarray(board), 8))
    assert np.abs(out.astype(int) - 127.5).max() <= 2


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_listed_format_decodes(fmt):
    image = Image.new("RGB", (20, 20), (0, 128, 255))
    out = decode(encode(image, fmt), size=10, channels=3)
    assert isinstance(out, Decoded) and out.pixels.shape == (10, 10, 3)
    np.testing.assert_allclose(out.pixels.mean((0, 1)), (0, 128, 255), atol=12)


def test_bad_bytes_give_reasons():
    png = encode(Image.new("RGB", (64, 64), (1, 2, 3)))
    jpeg = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    corrupt = bytearray(encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))))
    corrupt[100:120] = b"\0" * 20
    assert decode(b"").reason == EMPTY
    assert decode(b"this is text, not an image").reason == NOT_IMAGE
    assert decode(jpeg[: len(jpeg) // 2]).reason == TRUNCATED
    noisy_png = encode(Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8)))
    assert decode(noisy_png[: len(noisy_png) // 2]).reason == TRUNCATED
    assert decode(bytes(corrupt)).reason == UNREADABLE
    assert decode(png, min_size=65).reason == TOO_SMALL
    # over the limit (Pillow warns) and over twice the limit (Pillow raises): both refused
    assert decode(png, max_pixels=4000).reason == DECOMPRESSION_BOMB
    assert decode(png, max_pixels=1000).reason == DECOMPRESSION_BOMB
    assert isinstance(decode(png, max_pixels=4096), Decoded)
    assert all(isinstance(decode(b"x"), Failure) for _ in range(2))
