"""Train / reference / validation splits: disjoint, leak-free, sized as asked, and the reference-size check."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.config import PrepareConfig
from gencurate.data.cleaning import LEAK
from gencurate.data.pipeline import prepare_dataset
from gencurate.data.splits import (
    REFERENCE,
    TRAIN,
    VALIDATION,
    carve_validation,
    split_leaks,
)
from gencurate.stages.prepare import check_reference_size


def distinct_images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """n uint8 [size x size] images of independent noise (no two are near duplicates)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def write_demo_npz(path, images: np.ndarray, splits: list[str]) -> None:
    n = len(images)
    np.savez(path, images=images, labels=np.arange(n) % 2, split=np.array(splits),
             source=np.array([f"img{i:03d}.png" for i in range(n)]), classes=np.array(["a", "b"]))


def config(source, **overrides) -> PrepareConfig:
    values = {"source": str(source), "image_size": 16, "channels": 1, "near_duplicate_distance": 4,
              "use_source_split": True, "validation_fraction": 0.2, "seed": 0, "workers": 1}
    return PrepareConfig(**(values | overrides))


def test_carve_validation_takes_its_rows_from_the_given_side_only():
    splits = np.array([TRAIN] * 60 + [REFERENCE] * 40, dtype=object)
    labels = np.arange(100) % 4
    out = carve_validation(splits, labels, fraction=0.1, seed=3, side=REFERENCE)
    assert (out == VALIDATION).sum() == 10 and (out == REFERENCE).sum() == 30
    assert (out[:60] == TRAIN).all(), "the training set keeps its size"
    # stratified by label: 10 of 4 classes with 10 each on the reference side -> 2 or 3 per class
    assert sorted(np.bincount(labels[out == VALIDATION], minlength=4)) == [2, 2, 3, 3]
    np.testing.assert_array_equal(out, carve_validation(splits, labels, fraction=0.1, seed=3, side=REFERENCE))
    assert not np.array_equal(out, carve_validation(splits, labels, fraction=0.1, seed=4, side=REFERENCE))
    with pytest.raises(ValueError, match="holds only 40"):
        carve_validation(splits, labels, fraction=0.5, seed=0, side=REFERENCE)


def test_split_leaks_catches_planted_copies_across_validation_and_reference():
    rng = np.random.default_rng(0)
    digests = rng.integers(0, 256, (6, 32), dtype=np.uint8)
    phashes = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    splits = np.array([TRAIN, TRAIN, REFERENCE, REFERENCE, VALIDATION, VALIDATION], dtype=object)
    assert split_leaks(digests, phashes, None, splits, max_distance=2, max_pixel_distance=-1, colour=True, centre_phashes=None) == []
    exact = digests.copy()
    exact[4] = exact[2]  # validation row 4 = reference row 2, pixel for pixel
    leaks = split_leaks(exact, phashes, None, splits, max_distance=-1, max_pixel_distance=-1, colour=True, centre_phashes=None)
    assert [(m.kept, m.index, m.reason) for m in leaks] == [(2, 4, LEAK)]
    near = phashes.copy()
    near[5] = near[3]
    near[5, 0] ^= 0b11  # validation row 5 is 2 bits from reference row 3
    assert [(m.kept, m.index) for m in split_leaks(digests, near, None, splits, max_distance=2, max_pixel_distance=-1, colour=True, centre_phashes=None)] == [(3, 5)]
    assert split_leaks(digests, near, None, splits, max_distance=1, max_pixel_distance=-1, colour=True, centre_phashes=None) == []
    # the same pair inside one split is a duplicate for cleaning, not a leak
    same = splits.copy()
    same[5] = REFERENCE
    assert split_leaks(digests, near, None, same, max_distance=2, max_pixel_distance=-1, colour=True, centre_phashes=None) == []


def test_prepare_gives_three_disjoint_leak_free_splits_from_a_source_with_planted_duplicates(tmp_path):
    images = distinct_images(40)
    splits = [TRAIN] * 24 + [REFERENCE] * 16
    # planted copies: inside the reference side (one of them could become validation), and across train/reference
    images[30] = images[25]  # reference copies reference
    images[35] = images[5]  # reference copies train: a leak
    write_demo_npz(tmp_path / "demo.npz", images, splits)
    result = prepare_dataset(config(tmp_path / "demo.npz"), images_path=tmp_path / "out.npy", demo_path="unused")
    manifest, rejected = result.manifest, result.rejected
    assert sorted(rejected["source"]) == ["img030.png", "img035.png"]
    assert dict(zip(rejected["source"], rejected["reason"]))["img035.png"] == LEAK
    counts = manifest["split"].value_counts().to_dict()
    assert counts == {TRAIN: 24, VALIDATION: round(38 * 0.2), REFERENCE: 14 - round(38 * 0.2)}
    kept = np.load(tmp_path / "out.npy")
    # disjoint: every kept image is in exactly one split, and no two kept images share pixels
    assert len({kept[i].tobytes() for i in range(len(kept))}) == len(kept)
    assert set(manifest["sha256"][manifest["split"] == VALIDATION]).isdisjoint(manifest["sha256"][manifest["split"] != VALIDATION])


def test_a_source_shipping_a_validation_split_loses_reference_copies_of_validation_images(tmp_path):
    images = distinct_images(30)
    images[25] = images[12]  # a reference image that copies a validation image
    splits = [TRAIN] * 10 + [VALIDATION] * 5 + [REFERENCE] * 15
    write_demo_npz(tmp_path / "demo.npz", images, splits)
    result = prepare_dataset(config(tmp_path / "demo.npz"), images_path=tmp_path / "out.npy", demo_path="unused")
    rejected = result.rejected.set_index("source")
    assert rejected.loc["img025.png", "reason"] == LEAK
    assert "split validation" in rejected.loc["img025.png", "detail"]
    assert result.manifest["split"].value_counts().to_dict() == {TRAIN: 10, VALIDATION: 5, REFERENCE: 14}


def test_a_folder_split_carves_validation_from_the_training_side(tmp_path):
    from PIL import Image

    for i, image in enumerate(distinct_images(40, size=20)):
        (tmp_path / "imgs" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "imgs" / f"c{i % 2}" / f"{i:02d}.png")
    cfg = config(tmp_path / "imgs", use_source_split=False, reference_fraction=0.25, validation_fraction=0.1)
    manifest = prepare_dataset(cfg, images_path=tmp_path / "out.npy", demo_path="unused").manifest
    assert manifest["split"].value_counts().to_dict() == {TRAIN: 26, REFERENCE: 10, VALIDATION: 4}


def test_prepare_stops_when_the_reference_split_is_smaller_than_the_evaluation_set():
    check_reference_size(1_000, 1_000)
    with pytest.raises(ValueError) as err:
        check_reference_size(999, 1_000)
    assert "reference split holds 999 images but evaluate.num_samples is 1000" in str(err.value)
    assert "\n" not in str(err.value)


def test_validation_fraction_is_checked_in_one_line():
    from gencurate.config import ParamsError

    with pytest.raises(ParamsError, match="prepare.validation_fraction: must be in"):
        PrepareConfig(validation_fraction=1.0)
    with pytest.raises(ParamsError, match="must leave training images"):
        PrepareConfig(reference_fraction=0.6, validation_fraction=0.4)
