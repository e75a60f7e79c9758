"""Metrics on feature arrays: hand-computed cases, invariances, and the suite vs the single-metric functions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from gencurate.metrics import (
    dc_features_to_metric, fd_features_to_metric, features_to_metrics, kid_features_to_metric, prc_features_to_metric,
)
from gencurate.metrics import keys as K
from gencurate.metrics.fd import fd_features_to_statistics, trace_sqrt_product
from gencurate.metrics.fd_infinity import fd_infinity_features_to_metric


def gaussian(n: int, d: int, seed: int, *, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, d)) * scale + shift).astype(np.float32)


def whitened(n: int, d: int, seed: int) -> np.ndarray:
    """(n, d) float64 with sample mean exactly 0 and unbiased covariance exactly I."""
    z = np.random.default_rng(seed).normal(size=(n, d))
    z -= z.mean(0)
    w, v = np.linalg.eigh(np.cov(z, rowvar=False))
    return z @ v @ np.diag(w**-0.5) @ v.T


# --- Frechet distance -------------------------------------------------------------------------

def test_fd_of_identical_sets_is_zero():
    x = gaussian(500, 32, 0)
    assert abs(fd_features_to_metric(x, x)[K.KEY_FD]) < 1e-6


def test_fd_of_a_shifted_set_is_the_squared_shift():
    x = gaussian(400, 16, 1)
    shift = np.linspace(-1, 1, 16).astype(np.float32)
    fd = fd_features_to_metric(x, x + shift)[K.KEY_FD]
    assert fd == pytest.approx(float(shift.astype(np.float64) @ shift), rel=1e-4)


def test_fd_hand_case_with_different_diagonal_covariances():
    # Gaussians N(mu1, diag(a)) and N(mu2, diag(b)) fitted exactly:
    # FD = |mu1 - mu2|^2 + sum(a + b - 2 sqrt(a b)) = |mu1 - mu2|^2 + sum((sqrt a - sqrt b)^2).
    d = 6
    a, b = np.arange(1.0, d + 1), np.full(d, 4.0)
    mu1, mu2 = np.zeros(d), np.array([1.0, 0, 0, 2.0, 0, 0])
    x = whitened(300, d, 2) * np.sqrt(a) + mu1
    y = whitened(200, d, 3) * np.sqrt(b) + mu2
    expected = 1.0 + 4.0 + np.sum((np.sqrt(a) - 2.0) ** 2)
    assert fd_features_to_metric(x, y)[K.KEY_FD] == pytest.approx(expected, rel=1e-5)


def test_fd_matches_scipy_sqrtm_formula_with_full_covariances():
    rng = np.random.default_rng(4)
    x = gaussian(300, 20, 5) @ rng.normal(size=(20, 20)).astype(np.float32)
    y = gaussian(250, 20, 6, shift=0.3) @ rng.normal(size=(20, 20)).astype(np.float32)
    s1, s2 = np.cov(x.astype(np.float64), rowvar=False), np.cov(y.astype(np.float64), rowvar=False)
    diff = x.astype(np.float64).mean(0) - y.astype(np.float64).mean(0)
    reference = diff @ diff + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert fd_features_to_metric(x, y)[K.KEY_FD] == pytest.approx(reference, rel=1e-6)


def test_fd_statistics_do_not_depend_on_the_block_size():
    x = gaussian(1001, 24, 7)
    a, b = fd_features_to_statistics(x, batch_size=13), fd_features_to_statistics(x, batch_size=5000)
    np.testing.assert_allclose(a.sigma, b.sigma, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-12)


def test_trace_sqrt_product_rank_deficient():
    # N < D makes both covariances singular; the eigen route must stay real and exact: tr sqrt(S S) = tr S.
    x = gaussian(20, 64, 8).astype(np.float64)
    s = np.cov(x, rowvar=False)
    assert trace_sqrt_product(s, s) == pytest.approx(np.trace(s), rel=1e-6)


# --- KID --------------------------------------------------------------------------------------

def test_kid_hand_case():
    # D = 1, k(x, y) = (x y + 1)^3. X = {0, 1}, Y = {1, 2}: off-diagonal K_XX sum 2, K_YY 54, K_XY sum 37;
    # MMD^2 = (2 + 54) / (2 * 1) - 2 * 37 / 4 = 9.5 (one subset = the whole sets; order does not matter).
    out = kid_features_to_metric(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]), subsets=3, subset_size=2, seed=0)
    assert out[K.KEY_KID_MEAN] == pytest.approx(9.5)
    assert out[K.KEY_KID_STD] == pytest.approx(0.0)


def test_kid_separates_equal_from_shifted_distributions_and_is_seeded():
    x, x2, y = gaussian(400, 16, 9), gaussian(400, 16, 10), gaussian(400, 16, 11, shift=0.5)
    same = kid_features_to_metric(x, x2, subsets=10, subset_size=200, seed=0)
    shifted = kid_features_to_metric(x, y, subsets=10, subset_size=200, seed=0)
    assert abs(same[K.KEY_KID_MEAN]) < 3 * same[K.KEY_KID_STD] + 1e-3
    assert shifted[K.KEY_KID_MEAN] > 10 * abs(same[K.KEY_KID_MEAN])
    assert kid_features_to_metric(x, y, subsets=10, subset_size=200, seed=0) == shifted
    assert kid_features_to_metric(x, y, subsets=10, subset_size=200, seed=1) != shifted


def test_kid_of_unit_features_matches_float64_ground_truth():
    # Unit-norm features give kernel values 1 + O(1e-3): float32 sums of the full kernel (torch-fidelity)
    # lose the small KID; ours drops the constant first and must match a float64 computation.
    x = gaussian(600, 256, 25)
    y = gaussian(600, 256, 26, shift=0.02)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    rng, truth = np.random.RandomState(5), []
    for _ in range(4):
        a, b = x[rng.choice(600, 300, replace=False)].astype(np.float64), y[rng.choice(600, 300, replace=False)].astype(np.float64)
        kxx, kyy, kxy = ((a @ a.T) / 256 + 1) ** 3, ((b @ b.T) / 256 + 1) ** 3, ((a @ b.T) / 256 + 1) ** 3
        truth.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (300 * 299) - 2 * kxy.sum() / 300**2)
    out = kid_features_to_metric(x, y, subsets=4, subset_size=300, seed=5)
    assert out[K.KEY_KID_MEAN] == pytest.approx(np.mean(truth), rel=1e-5)
    assert out[K.KEY_KID_STD] == pytest.approx(np.std(truth), rel=1e-4)


def test_kid_subset_larger_than_a_set_is_a_clear_error():
    with pytest.raises(ValueError, match="kid_subset_size"):
        kid_features_to_metric(gaussian(10, 4, 0), gaussian(8, 4, 1), subsets=2, subset_size=9, seed=0)


# --- precision / recall / density / coverage -------------------------------------------------

# 1-D hand case, k = 1. Real k-NN radii: 0,1,10,11 -> 1; 50,52 -> 2. Fake radii: 0.5,5 -> 4.5; 10.5 -> 5.5; 20 -> 9.5.
REAL = np.array([[0.0], [1.0], [10.0], [11.0], [50.0], [52.0]])
FAKE = np.array([[0.5], [5.0], [10.5], [20.0]])


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4096])
def test_precision_recall_hand_case(batch_size):
    # Precision: 0.5 (in the balls of 0 and 1) and 10.5 (10, 11) of 4 fakes; 5 and 20 are in no real ball.
    # Recall: reals 0, 1, 10, 11 lie in a fake ball; 50 and 52 do not (20's radius 9.5 falls short) -> 4/6.
    out = prc_features_to_metric(FAKE, REAL, k=1, batch_size=batch_size)
    assert out[K.KEY_PRECISION] == pytest.approx(0.5)
    assert out[K.KEY_RECALL] == pytest.approx(4 / 6)


@pytest.mark.parametrize("batch_size", [1, 4, 4096])
def test_density_coverage_hand_case(batch_size):
    # Density: fakes 0.5 and 10.5 each lie in 2 real balls, the others in none: (2 + 2) / (k=1 * 4 fakes) = 1.
    # Coverage: the balls of 0, 1, 10, 11 hold a fake, those of 50, 52 do not -> 4/6.
    out = dc_features_to_metric(FAKE, REAL, k=1, batch_size=batch_size)
    assert out[K.KEY_DENSITY] == pytest.approx(1.0)
    assert out[K.KEY_COVERAGE] == pytest.approx(4 / 6)


def test_identical_sets_have_precision_recall_coverage_one():
    x = gaussian(300, 16, 12)
    prc, dc = prc_features_to_metric(x, x, k=3, batch_size=2048), dc_features_to_metric(x, x, k=5, batch_size=2048)
    assert prc[K.KEY_PRECISION] == prc[K.KEY_RECALL] == dc[K.KEY_COVERAGE] == 1.0
    # Open ball i holds x_i and its k - 1 nearest neighbours (the k-th lies on the boundary): density = 1,
    # up to a few boundary points whose two distance computations differ in the last bit.
    assert dc[K.KEY_DENSITY] == pytest.approx(1.0, abs=0.01)


def test_swapping_real_and_fake_swaps_precision_and_recall():
    real, fake = gaussian(300, 8, 13), gaussian(250, 8, 14, shift=0.4, scale=0.6)
    a, b = prc_features_to_metric(fake, real, k=3, batch_size=2048), prc_features_to_metric(real, fake, k=3, batch_size=2048)
    assert a[K.KEY_PRECISION] == b[K.KEY_RECALL] and a[K.KEY_RECALL] == b[K.KEY_PRECISION]
    assert a[K.KEY_PRECISION] > a[K.KEY_RECALL]  # a narrow fake set: high fidelity, low diversity


def test_precision_drops_for_far_samples_and_density_exceeds_one_for_a_dense_core():
    real = gaussian(400, 8, 15)
    assert prc_features_to_metric(real + 10, real, k=3, batch_size=2048)[K.KEY_PRECISION] == 0.0
    core = gaussian(400, 8, 16, scale=0.2)   # samples crowd the densest real region
    assert dc_features_to_metric(core, real, k=5, batch_size=2048)[K.KEY_DENSITY] > 1.5


# --- the suite -------------------------------------------------------------------------------

FD_INF_FIT = dict(num_sizes=5, min_fraction=0.25)
FD_INF = dict(fd_infinity_sizes=5, fd_infinity_min_fraction=0.25)

def test_suite_equals_the_single_metric_functions():
    real, fake = gaussian(300, 12, 19), gaussian(280, 12, 20, shift=0.2)
    out = features_to_metrics(fake, real, kid_subsets=5, kid_subset_size=100, prc_k=3, dc_k=5, seed=3, batch_size=2048,
                              **FD_INF)
    kid = kid_features_to_metric(fake, real, subsets=5, subset_size=100, seed=3)
    expected = {
        **fd_infinity_features_to_metric(fake, real, seed=3, **FD_INF_FIT),
        K.KEY_KID_X1E3: 1e3 * kid[K.KEY_KID_MEAN], K.KEY_KID_X1E3_STD: 1e3 * kid[K.KEY_KID_STD],
        **prc_features_to_metric(fake, real, k=3, batch_size=2048),
        **dc_features_to_metric(fake, real, k=5, batch_size=2048),
    }
    assert out.keys() == expected.keys()
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert out[K.KEY_FD] == pytest.approx(fd_features_to_metric(fake, real)[K.KEY_FD], rel=1e-9)


def test_suite_does_not_depend_on_batch_size():
    real, fake = gaussian(500, 32, 22), gaussian(450, 32, 23, scale=0.8)
    kw = dict(kid_subsets=4, kid_subset_size=100, prc_k=3, dc_k=5, seed=0, **FD_INF)
    small, large = features_to_metrics(fake, real, batch_size=37, **kw), features_to_metrics(fake, real, batch_size=4096, **kw)
    assert small == pytest.approx(large, rel=1e-6)
    for key in (K.KEY_PRECISION, K.KEY_RECALL, K.KEY_DENSITY, K.KEY_COVERAGE):
        assert small[key] == large[key], key


@pytest.mark.parametrize(
    ("fake", "real", "message"),
    [
        (np.zeros((10, 3)), np.zeros((10, 4)), "feature dims"),
        (np.zeros(10), np.zeros((10, 4)), r"\(N, D\)"),
        (np.full((10, 4), np.nan), np.zeros((10, 4)), "NaN"),
        (np.zeros((3, 4)), np.random.rand(10, 4), "too few"),
    ],
)
def test_bad_inputs_are_clear_errors(fake, real, message):
    with pytest.raises(ValueError, match=message):
        features_to_metrics(fake, real, kid_subsets=1, kid_subset_size=2, prc_k=3, dc_k=5, seed=0, batch_size=2048, **FD_INF)
