"""Parity with the references: torch-fidelity (FID, KID, precision/recall) and prdc (density/coverage),
on the same features; torch-fidelity run end to end through our registered encoder; Inception FID."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric as tf_kid
from torch_fidelity.metric_prc import prc_features_to_metric as tf_prc

from gencurate.metrics import (
    dc_features_to_metric, fd_features_to_metric, features_to_metrics, kid_features_to_metric, prc_features_to_metric,
)
from gencurate.metrics import keys as K
from gencurate.metrics import fidelity

# Tolerances of the parity: FD and KID are float64 here and float32 in torch-fidelity (means,
# kernels), so they agree to ~1e-6 relative; precision/recall count the same closed balls on
# float32 distances from the same expansion, so they agree exactly unless a point lies within
# float32 round-off of a ball's edge (allowed: one point in a set).
FD_RTOL, KID_ATOL, KID_RTOL = 1e-4, 1e-6, 1e-4


def features(n: int, d: int, seed: int, *, shift: float = 0.0, scale: float = 1.0, normalise: bool = False) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)) * scale + shift
    if normalise:  # like our embeddings: unit rows
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


CASES = {
    "equal sizes": (features(400, 64, 0), features(400, 64, 1, shift=0.1, scale=1.2)),
    "unequal sizes": (features(300, 32, 2, scale=0.7), features(450, 32, 3)),
    "unit rows, N < D": (features(200, 384, 4, normalise=True), features(200, 384, 5, shift=0.05, normalise=True)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_torch_fidelity_on_the_same_features(case):
    fake, real = CASES[case]
    tf_fake, tf_real = torch.from_numpy(fake), torch.from_numpy(real)
    theirs_fd = fid_statistics_to_metric(fid_features_to_statistics(tf_fake), fid_features_to_statistics(tf_real), False)
    assert fd_features_to_metric(fake, real)[K.KEY_FD] == pytest.approx(
        theirs_fd[torch_fidelity.KEY_METRIC_FID], rel=FD_RTOL)

    theirs_kid = tf_kid(tf_fake, tf_real, kid_subsets=10, kid_subset_size=150, rng_seed=7, verbose=False,
                        kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    ours_kid = kid_features_to_metric(fake, real, subsets=10, subset_size=150, seed=7)
    assert ours_kid[K.KEY_KID_MEAN] == pytest.approx(theirs_kid[torch_fidelity.KEY_METRIC_KID_MEAN], rel=KID_RTOL, abs=KID_ATOL)
    assert ours_kid[K.KEY_KID_STD] == pytest.approx(theirs_kid[torch_fidelity.KEY_METRIC_KID_STD], rel=KID_RTOL, abs=KID_ATOL)

    theirs_prc = tf_prc(tf_fake, tf_real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=True, verbose=False)
    ours_prc = prc_features_to_metric(fake, real, k=3, batch_size=128)
    assert ours_prc[K.KEY_PRECISION] == pytest.approx(theirs_prc[torch_fidelity.KEY_METRIC_PRECISION], abs=1.01 / len(fake))
    assert ours_prc[K.KEY_RECALL] == pytest.approx(theirs_prc[torch_fidelity.KEY_METRIC_RECALL], abs=1.01 / len(real))


@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_prdc_density_coverage(case):
    prdc = pytest.importorskip("prdc")
    fake, real = CASES[case]
    theirs = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    ours = dc_features_to_metric(fake, real, k=5, batch_size=100)
    assert ours[K.KEY_DENSITY] == pytest.approx(theirs["density"], abs=1.01 / (5 * len(fake)))
    assert ours[K.KEY_COVERAGE] == pytest.approx(theirs["coverage"], abs=1.01 / len(real))


@pytest.fixture(scope="module")
def lite0():
    from gencurate.encoders import load_encoder

    return load_encoder("efficientnet-lite0", input_size=32, device="cpu", weights=None)


def image_sets(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 16, 16, 1) 'generated' (half smooth blobs, half stripes) and 'real' (blobs) sets, noisy."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]

    def blobs(k):
        return [np.exp(-((xx - rng.uniform(4, 12)) ** 2 + (yy - rng.uniform(4, 12)) ** 2) / rng.uniform(6, 20)) for _ in range(k)]

    def stripes(k):
        return [0.5 + 0.5 * np.sin(xx * rng.uniform(0.5, 1.5) + rng.uniform(0, 6)) for _ in range(k)]

    def to_u8(imgs):
        return np.clip(np.stack(imgs)[..., None] * 255 + rng.normal(0, 8, (len(imgs), 16, 16, 1)), 0, 255).astype(np.uint8)

    return to_u8(blobs(n // 2) + stripes(n - n // 2)), to_u8(blobs(n))


def test_torch_fidelity_through_our_registered_encoder_matches_our_stage_path(lite0):
    """torch-fidelity extracts features itself (our extractor) and computes; we embed (embed_images) and compute."""
    from gencurate.encoders import embed_images

    fake, real = image_sets()
    name = fidelity.register_encoder(lite0)
    assert name == "gencurate-efficientnet-lite0-32" and fidelity.register_encoder(lite0) == name  # idempotent
    theirs = fidelity.fidelity_metrics(fake, real, feature_extractor=name, kid_subsets=5, kid_subset_size=16, prc_k=3,
                                       seed=3, batch_size=16, cuda=False)
    ours = features_to_metrics(embed_images(lite0, fake, batch_size=128, num_workers=0, progress=False, normalise=False),
                               embed_images(lite0, real, batch_size=128, num_workers=0, progress=False, normalise=False),
                               kid_subsets=5, kid_subset_size=16, prc_k=3, dc_k=5, seed=3,
                               fd_infinity_sizes=5, fd_infinity_min_fraction=0.25, batch_size=2048)
    assert theirs[K.KEY_FD] > 0.05  # a real encoder tells blobs from stripes ...
    assert 0.2 < theirs[K.KEY_PRECISION] < 0.8  # ... so about the blob half of the samples is "precise"
    assert ours[K.KEY_FD] == pytest.approx(theirs[K.KEY_FD], rel=1e-3)
    assert ours[K.KEY_KID_X1E3] == pytest.approx(1e3 * theirs[K.KEY_KID_MEAN], rel=1e-3, abs=1e-5)
    for key in (K.KEY_PRECISION, K.KEY_RECALL):
        assert ours[key] == pytest.approx(theirs[key], abs=1.01 / len(fake)), key


def test_inception_metrics_without_weights_is_one_clear_error():
    fake, real = image_sets(8)
    with pytest.raises(ValueError, match="set evaluate.inception_weights") as err:
        fidelity.inception_metrics(fake, real, weights_path=None, isc_splits=2, batch_size=64)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="is not a file"):
        fidelity.inception_metrics(fake, real, weights_path="/nonexistent/weights-inception.pth", isc_splits=2,
                                   batch_size=64)
    with pytest.raises(ValueError, match="set evaluate.inception_weights"):
        fidelity.fidelity_metrics(fake, real, feature_extractor=fidelity.INCEPTION, kid_subsets=2, kid_subset_size=4,
                                  prc_k=3, seed=0, batch_size=64)


@pytest.mark.slow
def test_inception_metrics_run_torch_fidelity_on_a_local_weights_file(tmp_path, monkeypatch):
    """The local-weights path end to end. Real weights cannot be downloaded here, so the file holds
    torch-fidelity's Inception with its initial weights: the numbers mean nothing, the plumbing is real."""
    from torch_fidelity import feature_extractor_inceptionv3 as inception

    with monkeypatch.context() as m:
        m.setattr(inception, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        state = inception.FeatureExtractorInceptionV3(fidelity.INCEPTION, ["2048"]).state_dict()
    weights = tmp_path / fidelity.INCEPTION_WEIGHTS_FILE
    torch.save(state, weights)
    loaded = []
    original_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **k: loaded.append(str(f)) or original_load(f, *a, **k))
    fake, real = image_sets(4)
    same = fidelity.inception_metrics(real, real, weights_path=str(weights), isc_splits=2, cuda=False, batch_size=64)
    assert loaded == [str(weights)]
    assert abs(same[K.KEY_FD_INCEPTION]) < 1e-6
    other = fidelity.inception_metrics(fake, real, weights_path=str(weights), isc_splits=2, cuda=False, batch_size=64)
    assert np.isfinite(other[K.KEY_FD_INCEPTION])
    # The Inception Score is torch-fidelity's, of the samples alone (>= 1 by definition: exp of a mean KL).
    theirs = torch_fidelity.calculate_metrics(
        input1=fidelity.FidelityImageDataset(fake, rgb=True), isc=True, isc_splits=2, feature_extractor=fidelity.INCEPTION,
        feature_extractor_weights_path=str(weights), cuda=False, cache=False, save_cpu_ram=True, verbose=False)
    assert other[K.KEY_INCEPTION_SCORE] == pytest.approx(theirs[torch_fidelity.KEY_METRIC_ISC_MEAN], rel=1e-6)
    assert other[K.KEY_INCEPTION_SCORE_STD] == pytest.approx(theirs[torch_fidelity.KEY_METRIC_ISC_STD], rel=1e-6, abs=1e-9)
    assert other[K.KEY_INCEPTION_SCORE] >= 1.0 - 1e-6
