"""Bootstrap replicates (parity with the metrics on explicitly resampled sets) and the hierarchical verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gencurate.metrics import keys as K
from gencurate.metrics.bootstrap import (
    ball_matrices, bootstrap_weights, fd_replicates, features_to_replicates, kid_replicates, knn_replicates,
)
from gencurate.metrics.fd import fd_features_to_metric
from gencurate.metrics.suite import features_to_metrics
from gencurate.report.ranking import FAILED, HELD, UNDECIDED, check_ranking
from gencurate.report.summary import METHOD, SEED, metrics_to_summary
from gencurate.report.uncertainty import INDISTINGUISHABLE, all_pairs, hierarchical_draws, study_draws

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def gaussian(n: int, d: int, seed: int, *, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, d)) * scale + shift).astype(np.float32)


def unbiased_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """Reference: unbiased MMD^2 of the cubic polynomial kernel, from the full kernel matrices."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = a.shape[1]
    kxx, kyy, kxy = ((p @ q.T / d + 1) ** 3 for p, q in ((a, a), (b, b), (a, b)))
    m, n = len(a), len(b)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()


def test_weights_draw_n_of_n():
    w = bootstrap_weights(50, resamples=7, rng=np.random.default_rng(0))
    assert w.shape == (7, 50) and (w.sum(1) == 50).all() and (w >= 0).all()


def test_fd_and_kid_replicates_equal_the_metrics_of_the_resampled_sets():
    fake, real = gaussian(120, 10, 1, shift=5.0), gaussian(90, 10, 2, shift=5.2, scale=1.3)
    rng = np.random.default_rng(3)
    u, w = bootstrap_weights(120, resamples=3, rng=rng), bootstrap_weights(90, resamples=3, rng=rng)
    ones = fd_replicates(fake, real, np.ones((1, 120), int), np.ones((1, 90), int))
    assert ones[0] == pytest.approx(fd_features_to_metric(fake, real)[K.KEY_FD], rel=1e-6)
    fd, kid = fd_replicates(fake, real, u, w), kid_replicates(fake, real, u, w)
    for b in range(3):
        xs, ys = np.repeat(fake, u[b], axis=0), np.repeat(real, w[b], axis=0)
        assert fd[b] == pytest.approx(fd_features_to_metric(xs, ys)[K.KEY_FD], rel=1e-6)
        assert kid[b] == pytest.approx(unbiased_mmd2(xs, ys), rel=1e-9)


def test_knn_replicates_with_unit_weights_equal_the_metrics():
    fake, real = gaussian(150, 6, 4, shift=0.3), gaussian(140, 6, 5)
    balls = ball_matrices(fake, real, prc_k=3, dc_k=5, batch_size=32)
    reps = knn_replicates(*balls, np.ones((1, 150), int), np.ones((1, 140), int), dc_k=5)
    metrics = features_to_metrics(fake, real, kid_subsets=1, kid_subset_size=50, prc_k=3, dc_k=5, seed=0,
                                  fd_infinity_sizes=5, fd_infinity_min_fraction=0.25, batch_size=2048)
    for key in (K.KEY_PRECISION, K.KEY_RECALL, K.KEY_DENSITY, K.KEY_COVERAGE):
        assert reps[key][0] == pytest.approx(metrics[key], abs=1e-9), key


def test_knn_replicates_hand_case():
    # 2 samples, 2 reference images: sample 0 lies only in reference 0's ball, sample 1 in none.
    in_real = np.array([[True, False], [False, False]])
    in_fake = np.array([[False, True], [False, False]])    # reference 1 lies in sample 0's ball
    in_dense = in_real
    u = np.array([[2, 0], [0, 2], [1, 1]])
    w = np.array([[0, 2], [2, 0], [1, 1]])
    reps = knn_replicates(in_real, in_fake, in_dense, u, w, dc_k=1)
    # Draw 0: sample 0 twice, reference 1 twice: reference 0's ball is not drawn -> precision 0; recall 1.
    # Draw 1: sample 1 twice, reference 0 twice: precision 0; recall 0 (sample 0 not drawn); coverage 0.
    # Draw 2: everything once: precision 1/2, recall 1/2, density (1 * 1) / (1 * 2), coverage 1/2.
    assert reps[K.KEY_PRECISION].tolist() == [0.0, 0.0, 0.5]
    assert reps[K.KEY_RECALL].tolist() == [1.0, 0.0, 0.5]
    assert reps[K.KEY_DENSITY].tolist() == [0.0, 0.0, 0.5]
    assert reps[K.KEY_COVERAGE].tolist() == [0.0, 0.0, 0.5]


def test_hierarchical_draws_hand_case():
    reps = np.array([[1.0, 3.0], [10.0, 30.0]])          # seed means 2 and 20
    estimates = np.array([2.5, 19.0])                    # replicates are recentred on these
    out = hierarchical_draws(reps, estimates, seed_draws=np.array([[0, 0], [0, 1], [1, 1]]),
                             replicate_draws=np.array([[0, 1], [1, 0], [0, 0]]))
    # centred: seed 0 -> [1.5, 3.5], seed 1 -> [9, 29]
    assert out.tolist() == [(1.5 + 3.5) / 2, (3.5 + 9.0) / 2, 9.0]


def study(generators: dict[str, list[np.ndarray]], real: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Metrics table and replicates of planted generators (feature sets per seed) against one reference."""
    rows, replicates = [], {}
    for method, seeds in generators.items():
        for s, fake in enumerate(seeds):
            rows.append({METHOD: method, SEED: s, K.KEY_FD: fd_features_to_metric(fake, real)[K.KEY_FD]})
            replicates[method, s] = {k: np.asarray(v) for k, v in features_to_replicates(
                fake, real, sample_copies=np.zeros(len(fake), bool), reference_copies=np.zeros(len(real), bool),
                prc_k=3, dc_k=5, resamples=200, seed=[s, len(rows)], batch_size=2048).items()}
    return pd.DataFrame(rows), replicates


def test_identical_generators_are_indistinguishable_and_a_planted_shift_is_an_order():
    real = gaussian(200, 8, 10)
    generators = {
        "same_a": [gaussian(200, 8, 11), gaussian(200, 8, 12)],
        "same_b": [gaussian(200, 8, 13), gaussian(200, 8, 14)],
        "shifted": [gaussian(200, 8, 15, shift=0.45), gaussian(200, 8, 16, shift=0.45)],
    }
    table, replicates = study(generators, real)
    draws = study_draws(table, replicates, [K.KEY_FD], draws=2000, seed=0)
    summary = metrics_to_summary(table, keys=[K.KEY_FD])
    means = {m: summary[m][K.KEY_FD]["mean"] for m in summary}
    verdicts = {(p.a, p.b): p.verdict for p in all_pairs(draws, means, ["same_a", "same_b", "shifted"], K.KEY_FD,
                                                          confidence=0.95)}
    assert verdicts == {("same_a", "same_b"): INDISTINGUISHABLE, ("same_a", "shifted"): "same_a better",
                        ("same_b", "shifted"): "same_b better"}
    check = check_ranking(summary, ["same_a", "same_b", "shifted"], draws, confidence=0.95)
    assert check.outcomes() == {"same_a < same_b": UNDECIDED, "same_b < shifted": HELD}
    reverse = check_ranking(summary, ["shifted", "same_a"], draws, confidence=0.95)
    assert reverse.outcomes() == {"shifted < same_a": FAILED}


def test_replicates_are_reproducible_and_cover_every_metric():
    fake, real = gaussian(60, 4, 20), gaussian(50, 4, 21)
    kw = dict(sample_copies=np.arange(60) < 6, reference_copies=np.arange(50) < 5, prc_k=3, dc_k=5, resamples=20,
              batch_size=2048)
    a, b = features_to_replicates(fake, real, seed=[1, 2], **kw), features_to_replicates(fake, real, seed=[1, 2], **kw)
    assert a == b and a != features_to_replicates(fake, real, seed=[1, 3], **kw)
    assert set(a) == {K.KEY_FD, K.KEY_KID_MEAN, K.KEY_KID_X1E3, K.KEY_PRECISION, K.KEY_RECALL, K.KEY_DENSITY, K.KEY_COVERAGE,
                      K.KEY_MEMORISATION, K.KEY_MEMORISATION_CONTROL, K.KEY_MEMORISATION_EXCESS}
    assert all(len(v) == 20 for v in a.values())
    assert np.mean(a[K.KEY_MEMORISATION]) == pytest.approx(0.1, abs=0.03)
    assert np.allclose(np.subtract(a[K.KEY_MEMORISATION], a[K.KEY_MEMORISATION_CONTROL]), a[K.KEY_MEMORISATION_EXCESS])


def test_fd_replicates_agree_on_both_routes():
    # 40 x 3: draws hold ~25 distinct rows > 3 dims -> covariance route; the same pair in 60 dims -> cross route.
    rng = np.random.default_rng(6)
    low_fake, low_real = gaussian(40, 3, 7, shift=1.0), gaussian(40, 3, 8)
    u, w = bootstrap_weights(40, resamples=2, rng=rng), bootstrap_weights(40, resamples=2, rng=rng)
    padded = [np.pad(a, ((0, 0), (0, 57))) for a in (low_fake, low_real)]
    assert fd_replicates(low_fake, low_real, u, w) == pytest.approx(fd_replicates(*padded, u, w), rel=1e-6)
    for b in range(2):
        explicit = fd_features_to_metric(np.repeat(low_fake, u[b], 0), np.repeat(low_real, w[b], 0))[K.KEY_FD]
        assert fd_replicates(low_fake, low_real, u[b : b + 1], w[b : b + 1])[0] == pytest.approx(explicit, rel=1e-6)
