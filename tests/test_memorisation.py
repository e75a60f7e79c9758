"""Memorisation against a held-out control: planted copying and non-copying generators, hand cases, pixel checks."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from gencurate.metrics import keys as K
from gencurate.metrics.copies import closest_pairs, pair_similarity, psnr_ceiling
from gencurate.metrics.memorisation import (
    memorisation_distances_to_metric, memorisation_features_to_metric, memorisation_threshold, nearest_neighbours,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SUBSET_SIZES = (20, 100, 400, 1000)


@pytest.fixture(scope="module")
def world():
    """One distribution, four disjoint draws: train split (1000), reference (400), held-out images (400)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1800, 6)).astype(np.float32)
    return {"train": x[:1000], "reference": x[1000:1400], "held_out": x[1400:]}


def test_hand_case():
    # Held-out distances 1, 2, 3, 4 -> the 0.5-quantile threshold is 2.5.
    t = memorisation_threshold(np.array([1.0, 2.0, 3.0, 4.0]), quantile=0.5)
    assert t == 2.5
    out = memorisation_distances_to_metric(np.array([0.0, 2.5, 2.6, 9.0]), np.array([1.0, 5.0]), threshold=t)
    assert out == {K.KEY_MEMORISATION: 0.5, K.KEY_MEMORISATION_CONTROL: 0.5, K.KEY_MEMORISATION_EXCESS: 0.0,
                   K.KEY_MEMORISATION_THRESHOLD: 2.5}


def test_nearest_neighbours_match_brute_force_whatever_the_block():
    rng = np.random.default_rng(1)
    q, b = rng.normal(size=(37, 5)), rng.normal(size=(53, 5))
    d = np.linalg.norm(q[:, None] - b[None], axis=2)
    for batch in (4, 2048):
        dist, idx = nearest_neighbours(q, b, batch_size=batch)
        assert np.array_equal(idx, d.argmin(1))
        assert dist == pytest.approx(d.min(1), abs=1e-5)


def test_one_threshold_copies_score_one_and_held_out_images_score_their_control(world):
    train, reference, held_out = world["train"], world["reference"], world["held_out"]
    to_train, _ = nearest_neighbours(reference, train, batch_size=2048)
    threshold = memorisation_threshold(to_train, quantile=0.05)
    rng = np.random.default_rng(2)
    thresholds, controls = set(), []
    for size in SUBSET_SIZES:
        subset = train[rng.choice(len(train), size, replace=False)]
        # A copying generator: its training images plus tiny noise, as many samples as the reference.
        copies = subset[rng.integers(0, size, 400)] + rng.normal(0, 1e-4, (400, 6)).astype(np.float32)
        copying = memorisation_features_to_metric(copies, reference, subset, threshold=threshold, batch_size=2048)
        fresh = memorisation_features_to_metric(held_out, reference, subset, threshold=threshold, batch_size=2048)
        assert copying[K.KEY_MEMORISATION] == 1.0
        assert copying[K.KEY_MEMORISATION_EXCESS] > 0.9
        # A generator returning held-out real images copies nothing: it scores about its control.
        assert abs(fresh[K.KEY_MEMORISATION_EXCESS]) < 0.04, size
        thresholds |= {copying[K.KEY_MEMORISATION_THRESHOLD], fresh[K.KEY_MEMORISATION_THRESHOLD]}
        controls.append(fresh[K.KEY_MEMORISATION_CONTROL])
    assert thresholds == {threshold}
    # The control grows with the subset (a denser subset is nearer to everything), up to q for the whole split.
    assert controls == sorted(controls) and controls[0] < 0.01 and controls[-1] == pytest.approx(0.05, abs=0.005)


def test_pixel_similarity_hand_cases():
    a = np.full((8, 8, 1), 100, dtype=np.uint8)
    ssim, psnr = pair_similarity(a, a)
    assert ssim == pytest.approx(1.0) and psnr == pytest.approx(10 * np.log10(255**2 * 64))
    assert psnr == psnr_ceiling(a.shape)
    # One grey level everywhere: MSE 1, PSNR = 20 log10(255) = 48.13 dB.
    assert pair_similarity(a, a + 1)[1] == pytest.approx(20 * np.log10(255))
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    expected = structural_similarity(x.astype(float), y.astype(float), data_range=255, channel_axis=-1)
    assert pair_similarity(x, y)[0] == pytest.approx(expected)


def test_closest_pairs_are_the_nearest_samples_with_their_training_images():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (10, 8, 8, 1), dtype=np.uint8)
    samples = images[[3, 7, 1]].copy()
    samples[2] = 255 - samples[2]
    distance, nearest_id = np.array([0.5, 0.0, 2.0]), np.array([3, 7, 1])
    pairs = closest_pairs(samples, images, distance=distance, nearest_id=nearest_id, k=2)
    assert pairs.sample_index.tolist() == [1, 0] and pairs.train_id.tolist() == [7, 3]
    assert np.array_equal(pairs.train, images[[7, 3]]) and np.array_equal(pairs.samples, pairs.train)
    assert pairs.ssim == pytest.approx([1.0, 1.0])
