"""Near-duplicates at the default params: planted copies removed, distinct pictures kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance

from gencurate.config import ParamsError, PrepareConfig, params_from_mapping
from gencurate.data.cleaning import DUPLICATE, NEAR_DUPLICATE
from gencurate.data.pipeline import prepare_dataset

SHAPES = ("ellipse", "rectangle", "triangle", "bar")


def picture(k: int, colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (120, 100)) -> Image.Image:
    """Distinct picture number k: a shape of its own kind and place on white, plus a second colour patch."""
    w, h = size
    image = Image.new("RGBA", size, (255, 255, 255, 0 if k % 2 else 255))  # odd pictures are transparent
    draw = ImageDraw.Draw(image)
    kind = SHAPES[k % len(SHAPES)]
    x0, y0 = 20 + (k * 7) % 30, 15 + (k * 11) % 25
    box = [x0 * w / 120, y0 * h / 100, (x0 + 50) * w / 120, (y0 + 50) * h / 100]
    if kind == "ellipse":
        draw.ellipse(box, fill=(*colour, 255))
    elif kind == "rectangle":
        draw.rectangle(box, fill=(*colour, 255))
    elif kind == "triangle":
        draw.polygon([(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])], fill=(*colour, 255))
    else:
        draw.rectangle([box[0], box[1] + 15 * h / 100, box[2] + 10 * w / 120, box[1] + 30 * h / 100], fill=(*colour, 255))
    draw.rectangle([w * 0.75, h * 0.7, w * 0.9, h * 0.88], fill=(40, 60 + 20 * k, 200, 255))
    return image


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    flat = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image.convert("RGBA"))
    flat.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def suffix(data: bytes) -> str:
    return "jpg" if data.startswith(b"\xff\xd8") else "png"


@pytest.fixture()
def planted(tmp_path) -> tuple[Path, dict[str, str]]:
    """Originals `<kind>_a`, copies `<kind>_b` (kind -> expected reason), distinct pictures `distinct_*`."""
    root = tmp_path / "images"
    root.mkdir()
    expected = {}
    files = {
        "jpeg60": (png(picture(0)), jpeg(picture(0), 60), NEAR_DUPLICATE),
        "jpeg95": (png(picture(1)), jpeg(picture(1), 95), NEAR_DUPLICATE),
        "jpeg_to_png": (jpeg(picture(2), 90), None, DUPLICATE),  # PNG of the decoded JPEG: same pixels
        "resize": (png(picture(3)), png(picture(3).resize((108, 90), Image.Resampling.LANCZOS)), NEAR_DUPLICATE),
        "crop": (png(picture(4)), png(picture(4).crop((1, 1, 119, 99))), NEAR_DUPLICATE),
        "brightness": (png(picture(5)), None, NEAR_DUPLICATE),
    }
    with Image.open(io.BytesIO(files["jpeg_to_png"][0])) as im:
        files["jpeg_to_png"] = (files["jpeg_to_png"][0], png(im.convert("RGB")), DUPLICATE)
    brighter = ImageEnhance.Brightness(picture(5).convert("RGB")).enhance(1.08).convert("RGBA")
    brighter.putalpha(picture(5).getchannel("A"))
    files["brightness"] = (files["brightness"][0], png(brighter), NEAR_DUPLICATE)
    for kind, (a, b, reason) in files.items():
        (root / f"{kind}_a.{suffix(a)}").write_bytes(a)
        (root / f"{kind}_b.{suffix(b)}").write_bytes(b)
        expected[f"{kind}_b"] = reason
    (root / "colour_a.png").write_bytes(png(picture(6, colour=(200, 40, 40))))
    (root / "colour_b.png").write_bytes(png(picture(6, colour=(40, 170, 60))))  # the same shape in green
    for k in range(8, 20):
        (root / f"distinct_{k:02d}.png").write_bytes(png(picture(k, colour=(30 + 15 * k, 120, 200 - 8 * k))))
    return root, expected


@pytest.mark.parametrize(("size", "channels"), [(32, 3), (64, 3)])
def test_planted_copies_removed_and_distinct_images_kept(planted, tmp_path, size, channels):
    root, expected = planted
    config = PrepareConfig(source=str(root), image_size=size, channels=channels, use_source_split=False, workers=1)
    result = prepare_dataset(config, images_path=tmp_path / "images.npy", demo_path=tmp_path / "none.npz")
    removed = {Path(s).stem: r for s, r in zip(result.rejected["source"], result.rejected["reason"])}
    assert removed == expected  # every copy, nothing else: colour variants and distinct pictures stay
    kept = {Path(s).stem for s in result.manifest["source"]}
    assert {"colour_a", "colour_b"} <= kept and all(f"{k}_a" in kept for k in ("jpeg60", "crop", "brightness"))


def test_colour_variants_count_as_copies_when_colour_is_ignored(planted, tmp_path):
    root, _ = planted
    config = PrepareConfig(source=str(root), image_size=32, channels=3, use_source_split=False, workers=1,
                           near_duplicate_colour=False, near_duplicate_pixel_distance=30)
    result = prepare_dataset(config, images_path=tmp_path / "images.npy", demo_path=tmp_path / "none.npz")
    removed = {Path(s).stem for s in result.rejected["source"]}
    assert "colour_b" in removed and "colour_a" not in removed


@pytest.mark.parametrize("size", [32, 64])
def test_small_crop_removed_at_defaults(tmp_path, size):
    root = tmp_path / "images"
    root.mkdir()
    image = picture(4)
    w, h = image.size
    (root / "crop_a.png").write_bytes(png(image))
    (root / "crop_b.png").write_bytes(png(image.crop((round(0.03 * w), round(0.02 * h), w - round(0.03 * w),
                                                      h - round(0.03 * h)))))
    config = PrepareConfig(source=str(root), image_size=size, channels=3, use_source_split=False, workers=1)
    result = prepare_dataset(config, images_path=tmp_path / "images.npy", demo_path=tmp_path / "none.npz")
    assert [Path(s).stem for s in result.rejected["source"]] == ["crop_b"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("near_duplicate_pixel_distance", -2, "prepare.near_duplicate_pixel_distance: must be >= 0, or -1"),
        ("near_duplicate_pixel_distance", "far", "prepare.near_duplicate_pixel_distance: expected a number"),
        ("near_duplicate_colour", "yes", "prepare.near_duplicate_colour: expected true or false"),
        ("near_duplicate_distance", 40, "prepare.near_duplicate_distance: must be in [-1, 32]"),
        ("near_duplicate_crop", "yes", "prepare.near_duplicate_crop: 'yes' is not one of 'colour', 'all', 'none'"),
    ],
)
def test_dedup_params_rejected_with_the_key(default_params_dict, key, value, message):
    default_params_dict["prepare"][key] = value
    with pytest.raises(ParamsError) as err:
        params_from_mapping(default_params_dict)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("setting", "channels", "on"), [("colour", 3, True), ("colour", 1, False), ("all", 1, True),
                                                         ("none", 3, False)])
def test_crop_check_follows_the_output_channels(setting, channels, on):
    assert PrepareConfig(near_duplicate_crop=setting, channels=channels).crop_check is on


def test_a_large_share_of_near_duplicates_warns_with_the_params_to_change():
    from gencurate.stages.prepare import near_duplicate_warning
    colour, grey = PrepareConfig(channels=3), PrepareConfig(channels=1)
    assert near_duplicate_warning(5, 100, colour) is None  # 5 % is at the limit
    message = near_duplicate_warning(6, 100, colour)
    assert "6 of 100 images (6%)" in message and "prepare.near_duplicate_crop: none" in message and "\n" not in message
    assert "near_duplicate_crop" not in near_duplicate_warning(6, 100, grey)  # the crop check was off
    assert near_duplicate_warning(0, 0, grey) is None
