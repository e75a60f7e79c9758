"""KID works at its design scale on raw features: a spread difference shows in the non-linear kernel terms.

KID's kernel (x.y / D + 1)^3 = 1 + 3a + 3a^2 + a^3 with a = x.y / D (Binkowski et al. 2018). The
linear part 3a alone gives an MMD that sees only the means; on unit rows a <= 1 / D, so the
cubic kernel collapses onto it and KID cannot see a difference in covariance.
"""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.metrics import keys as K
from gencurate.metrics.kid import (
    kid_features_to_metric,
    mmd2_unbiased,
    polynomial_kernel_offset,
)
from gencurate.metrics.suite import features_to_metrics

D, N = 64, 500


def planted(seed: int, spread: float) -> np.ndarray:
    """(N, D) float32 around a common positive mean (like pooled post-activation features), std `spread`."""
    mean = np.abs(np.random.default_rng(0).normal(size=D))
    return (np.random.default_rng(seed).normal(size=(N, D)) * spread + mean).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def mmd2(x: np.ndarray, y: np.ndarray, kernel) -> float:
    return mmd2_unbiased(kernel(x, x), kernel(x, y), kernel(y, y))


def linear_part(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The linear term 3 x.y / D of KID's cubic kernel."""
    return 3.0 * polynomial_kernel_offset(a, b, degree=1)


def test_kid_on_raw_features_is_dominated_by_the_non_linear_terms():
    x, y = planted(1, 1.0), planted(2, 1.5)  # equal means, different covariances
    kid = kid_features_to_metric(x, y, subsets=1, subset_size=N, seed=0)[K.KEY_KID_MEAN]
    assert kid == pytest.approx(mmd2(x, y, polynomial_kernel_offset), rel=1e-9)  # one subset = the whole sets
    linear = mmd2(x, y, linear_part)
    assert linear / kid < 0.1  # the spread difference lives in the a^2, a^3 terms
    same = kid_features_to_metric(x, planted(3, 1.0), subsets=1, subset_size=N, seed=0)[K.KEY_KID_MEAN]
    assert kid > 10 * abs(same)
    # The same sets as unit rows: the cubic kernel has collapsed onto its linear term.
    xu, yu = unit(x), unit(y)
    assert mmd2(xu, yu, linear_part) / mmd2(xu, yu, polynomial_kernel_offset) > 0.9


def test_the_suite_reports_kid_in_units_of_1e_minus_3():
    x, y = planted(1, 1.0), planted(2, 1.5)
    out = features_to_metrics(x, y, kid_subsets=3, kid_subset_size=200, prc_k=3, dc_k=5, seed=5,
                              fd_infinity_sizes=5, fd_infinity_min_fraction=0.25, batch_size=2048)
    kid = kid_features_to_metric(x, y, subsets=3, subset_size=200, seed=5)
    assert K.KEY_KID_MEAN not in out and K.KEY_KID_STD not in out
    assert out[K.KEY_KID_X1E3] == pytest.approx(1e3 * kid[K.KEY_KID_MEAN], rel=1e-12)
    assert out[K.KEY_KID_X1E3_STD] == pytest.approx(1e3 * kid[K.KEY_KID_STD], rel=1e-12)
