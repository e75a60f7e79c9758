"""FD-infinity (Chong & Forsyth 2020) and the one-pass prefix statistics it rests on."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.metrics import keys as K
from gencurate.metrics.fd import fd_features_to_metric, fd_features_to_prefix_statistics
from gencurate.metrics.fd_infinity import (
    fd_by_subset_size,
    fd_infinity_features_to_metric,
    subset_sizes,
)

D = 32
STD = np.random.default_rng(0).uniform(0.5, 1.5, D)          # y's per-dimension std (x: 1)
MU = np.r_[np.full(4, 0.5), np.zeros(D - 4)]                 # y's mean (x: 0)
# Closed form for N(0, I) vs N(mu, diag(s^2)): |mu|^2 + sum(1 + s^2 - 2 s) = |mu|^2 + sum((1 - s)^2).
TRUE_FD = float(MU @ MU + np.sum((1.0 - STD) ** 2))
FIT = dict(num_sizes=5, min_fraction=0.25)


def planted_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, D)).astype(np.float32), (rng.normal(size=(n, D)) * STD + MU).astype(np.float32)


def test_fd_infinity_recovers_the_closed_form_fd_that_small_samples_overestimate():
    fits = [fd_by_subset_size(*planted_pair(2000, 100 + s), seed=s, **FIT) for s in range(8)]
    sizes = fits[0][0]
    assert sizes.tolist() == [500, 875, 1250, 1625, 2000]
    fd_by_size = np.mean([fds for _, fds in fits], axis=0)
    fd_inf = np.mean([fd_infinity_features_to_metric(*planted_pair(2000, 100 + s), seed=s, **FIT)[K.KEY_FD_INFINITY]
                      for s in range(8)])
    # FD at N is biased upwards by ~c / N: about 1.2 at N = 500 here, still ~0.3 at N = 2000 ...
    assert fd_by_size[0] - TRUE_FD > 0.8
    assert fd_by_size[-1] - TRUE_FD > 0.15
    assert np.all(np.diff(fd_by_size) < 0)
    # ... while the extrapolation to 1/N = 0 lands on the true value (2.5% of it).
    assert fd_inf == pytest.approx(TRUE_FD, abs=0.1)


def test_fd_infinity_is_deterministic_and_its_fd_is_the_whole_sets_fd():
    x, y = planted_pair(600, 7)
    a = fd_infinity_features_to_metric(x, y, seed=3, **FIT)
    assert a == fd_infinity_features_to_metric(x, y, seed=3, **FIT)
    assert a[K.KEY_FD_INFINITY] != fd_infinity_features_to_metric(x, y, seed=4, **FIT)[K.KEY_FD_INFINITY]
    assert a[K.KEY_FD] == pytest.approx(fd_features_to_metric(x, y)[K.KEY_FD], rel=1e-9)


def test_fd_infinity_with_fewer_samples_than_dims_uses_the_samples_as_factor():
    """N < D (the demo: 1,000 samples of 1,280-d features): every subset's covariance is singular."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 100)).astype(np.float32), rng.normal(size=(80, 100)).astype(np.float32) + 0.1
    sizes, fds = fd_by_subset_size(x, y, seed=0, **FIT)
    order = np.random.default_rng(0)
    o1, o2 = order.permutation(60), order.permutation(80)
    sizes2 = subset_sizes(80, **FIT)
    for n1, n2, fd in zip(sizes, sizes2, fds):
        assert fd == pytest.approx(fd_features_to_metric(x[o1[:n1]], y[o2[:n2]])[K.KEY_FD], rel=1e-8)


def test_prefix_statistics_equal_np_cov_of_each_prefix():
    x = np.random.default_rng(1).normal(size=(301, 7)).astype(np.float32) * 3 + 100  # far from 0: cancellation check
    order = np.random.default_rng(2).permutation(301)
    stats = fd_features_to_prefix_statistics(x, sizes=[2, 50, 123, 301], order=order, batch_size=17)
    for s in stats:
        rows = x[order[:s.n]].astype(np.float64)
        np.testing.assert_allclose(s.mu, rows.mean(0), rtol=1e-12)
        np.testing.assert_allclose(s.sigma, np.cov(rows, rowvar=False), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: fd_features_to_prefix_statistics(x, sizes=[5, 3]), "must increase"),
        (lambda x: fd_features_to_prefix_statistics(x, sizes=[1, 3]), "must increase"),
        (lambda x: fd_features_to_prefix_statistics(x, sizes=[3], order=np.zeros(10, int)), "permutation"),
        (lambda x: fd_infinity_features_to_metric(x[:4], x[:4], num_sizes=5, min_fraction=0.25, seed=0), "too few"),
    ],
)
def test_bad_fd_infinity_inputs_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros((10, 3), np.float32))
