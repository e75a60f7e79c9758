"""Dataset card: figures and counts for labelled and unlabelled sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from gencurate.config import PrepareConfig
from gencurate.data.card import (
    CARD_FILE,
    COUNTS_PNG,
    PROPERTIES_PNG,
    REMOVALS_PNG,
    SAMPLES_PNG,
    images_to_brightness,
    sample_grid_ids,
    samples_to_mosaic,
    write_dataset_card,
)
from gencurate.data.sources import Entry, Source


def manifest_for(n: int, labels: list[int], names: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": np.arange(n), "source": [f"f{i}.png" for i in range(n)], "sha256": ["0" * 64] * n,
        "width": np.full(n, 40), "height": np.arange(20, 20 + n), "mode": ["RGB"] * n,
        "split": ["reference" if i % 4 == 3 else "train" for i in range(n)],
        "label": labels, "label_name": names,
    })


def test_grid_rows_follow_classes_or_spread_evenly():
    labelled = manifest_for(12, [i % 3 for i in range(12)], ["abc"[i % 3] for i in range(12)])
    names, rows = sample_grid_ids(labelled)
    assert names == ["a", "b", "c"]
    assert [r.tolist() for r in rows] == [[0, 6, 9], [1, 4, 10], [2, 5, 8]]  # training ids only (3, 7, 11 are reference)
    plain = manifest_for(12, [-1] * 12, [""] * 12)
    names, rows = sample_grid_ids(plain)
    assert names == ["", ""] and [r.tolist() for r in rows] == [[0, 1, 2, 4, 5, 6, 8, 9], [10]]


def test_mosaic_places_images_with_white_gaps():
    images = np.stack([np.full((2, 3, 1), v, np.uint8) for v in (10, 20, 30)])
    mosaic = samples_to_mosaic(images, [np.array([0, 1]), np.array([2])], pad=1)
    assert mosaic.shape == (2 * 3 + 1, 8 * 4 + 1, 1)
    assert mosaic[1, 1, 0] == 10 and mosaic[1, 5, 0] == 20 and mosaic[4, 1, 0] == 30
    assert mosaic[0, 0, 0] == 255 and mosaic[4, 5, 0] == 255  # gaps and empty cells stay white


def test_brightness_is_chunk_independent():
    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    np.testing.assert_allclose(images_to_brightness(images, chunk=3), images.mean(axis=(1, 2, 3)))


def test_card_for_an_unlabelled_rgb_set(tmp_path):
    n = 12
    manifest = manifest_for(n, [-1] * n, [""] * n)
    rejected = pd.DataFrame({"source": ["bad.jpg", "x.png"], "reason": ["truncated", "duplicate"],
                             "detail": ["cut", "same pixels as f0.png"]})
    source = Source(kind="folder", description="image folder `x`", entries=[Entry(f"f{i}.png") for i in range(n)],
                    payloads=lambda max_bytes: iter(()))
    images = np.random.default_rng(0).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    write_dataset_card(tmp_path, images=images, manifest=manifest, rejected=rejected, source=source,
                       config=PrepareConfig(source="x", channels=3, image_size=8, use_source_split=False))
    text = (tmp_path / CARD_FILE).read_text()
    assert "12 images kept, 2 files removed" in text
    assert "| train | 9 |" in text and "| reference | 3 |" in text and "| truncated | 1 |" in text
    assert "## Classes" not in text and "unknown" in text  # no labels, no licence file
    assert "crops of up to 4% per side are searched too" in text and "crop alignments" in text  # RGB: crop check on
    write_dataset_card(tmp_path, images=images, manifest=manifest, rejected=rejected, source=source,
                       config=PrepareConfig(source="x", channels=3, image_size=8, use_source_split=False,
                                            near_duplicate_pixel_distance=-1))
    text = (tmp_path / CARD_FILE).read_text()
    assert "crops of up to 4% per side" in text and "crop alignments" not in text  # the hash alone: no thumbnails
    for png in (COUNTS_PNG, REMOVALS_PNG, PROPERTIES_PNG, SAMPLES_PNG):
        with Image.open(tmp_path / png) as im:
            assert im.format == "PNG" and min(im.size) > 100
        assert f"]({png})" in text
