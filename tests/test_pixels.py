"""The encoder-free pixel-space control, and the evaluate params it reads."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.config import ParamsError, params_from_mapping
from gencurate.metrics import keys as K
from gencurate.metrics.pixels import fit_pixel_space, images_to_pixels, prefixed
from gencurate.metrics.suite import features_to_metrics


def blobs(n: int, seed: int, *, size: int = 28, brightness: float = 0.0) -> np.ndarray:
    """uint8 (n, size, size, 1): one Gaussian blob each, random place and width, + `brightness` (0..1) everywhere."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    imgs = [np.exp(-((xx - rng.uniform(0.3, 0.7)) ** 2 + (yy - rng.uniform(0.3, 0.7)) ** 2) / rng.uniform(0.01, 0.05))
            for _ in range(n)]
    x = np.stack(imgs)[..., None] * (1 - brightness) + brightness + rng.normal(0, 0.03, (n, size, size, 1))
    return np.clip(x * 255, 0, 255).astype(np.uint8)


def test_images_are_shrunk_to_at_most_max_side_and_never_enlarged():
    small = blobs(3, 0, size=28)
    np.testing.assert_allclose(images_to_pixels(small, max_side=32), small.reshape(3, -1) / 255.0, rtol=1e-6)
    wide = np.full((2, 48, 64, 3), 200, np.uint8)
    px = images_to_pixels(wide, max_side=32)
    assert px.shape == (2, 24 * 32 * 3) and px.dtype == np.float32
    np.testing.assert_allclose(px, 200 / 255, rtol=1e-5)  # a flat image stays flat
    with pytest.raises(ValueError, match="uint8"):
        images_to_pixels(wide.astype(np.float32), max_side=32)


def test_pixel_space_is_whitened_on_its_fitting_images_and_reads_only_the_chosen_rows():
    images = blobs(400, 1)
    space = fit_pixel_space(images, rows=np.arange(0, 400, 2), max_side=16, components=10, max_images=150, seed=0)
    assert space.dim == 10
    feats = space.features(images[::2])
    assert feats.shape == (200, 10)
    cov = np.cov(feats, rowvar=False)
    assert np.allclose(np.diag(cov), 1.0, atol=0.25)  # unit variance on the fitting distribution
    raw = fit_pixel_space(images, rows=np.arange(400), max_side=16, components=0, max_images=10, seed=0)
    assert raw.pca is None and raw.features(images[:3]).shape == (3, 16 * 16)


def test_pixel_control_needs_no_weights_and_detects_a_planted_shift(monkeypatch):
    from gencurate import encoders

    monkeypatch.setattr(encoders, "load_encoder", lambda *a, **k: pytest.fail("the pixel control loaded an encoder"))
    train, reference = blobs(300, 2), blobs(120, 3)
    like, shifted = blobs(120, 4), blobs(120, 5, brightness=0.15)  # same blobs on a lighter background
    space = fit_pixel_space(train, rows=np.arange(len(train)), max_side=32, components=32, max_images=300, seed=0)
    kw = dict(kid_subsets=5, kid_subset_size=60, prc_k=3, dc_k=5, fd_infinity_sizes=5, fd_infinity_min_fraction=0.25,
              seed=0, batch_size=2048)
    real = space.features(reference)
    good = prefixed(features_to_metrics(space.features(like), real, **kw))
    bad = prefixed(features_to_metrics(space.features(shifted), real, **kw))
    assert set(good) == {K.PIXEL_PREFIX + k for k in (*K.PIXEL_METRICS, K.KEY_KID_X1E3_STD)}
    fd = K.PIXEL_PREFIX + K.KEY_FD
    assert bad[fd] > 3 * good[fd]
    assert bad[K.PIXEL_PREFIX + K.KEY_KID_X1E3] > 10 * abs(good[K.PIXEL_PREFIX + K.KEY_KID_X1E3])
    assert bad[K.PIXEL_PREFIX + K.KEY_PRECISION] < good[K.PIXEL_PREFIX + K.KEY_PRECISION] - 0.3


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (dict(fd_infinity_sizes=4), "evaluate.fd_infinity_sizes: must be >= 5"),
        (dict(fd_infinity_min_fraction=1.0), "evaluate.fd_infinity_min_fraction: must be in (0, 1)"),
        (dict(fd_infinity_min_fraction=0.001), "evaluate.fd_infinity_min_fraction: times evaluate.num_samples"),
        (dict(pixel_size=0), "evaluate.pixel_size: must be >= 1"),
        (dict(pixel_pca_components=-1), "evaluate.pixel_pca_components: must be >= 0"),
        (dict(pixel_pca_fit_images=64), "evaluate.pixel_pca_fit_images: must exceed"),
        (dict(isc_splits=0), "evaluate.isc_splits: must be >= 1"),
        (dict(isc_splits=5000, inception_weights="w.pth"), "evaluate.isc_splits: must not exceed evaluate.num_samples"),
        (dict(pixel_sise=32), "unknown key 'evaluate.pixel_sise'"),
    ],
)
def test_bad_evaluate_params_give_one_line_naming_the_key(default_params_dict, update, message):
    default_params_dict["evaluate"].update(update)
    with pytest.raises(ParamsError) as err:
        params_from_mapping(default_params_dict)
    assert message in str(err.value) and "\n" not in str(err.value)
