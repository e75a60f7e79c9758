"""Blocked k-NN: same results as brute force at any block size, and never more than a block in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from gencurate.metrics import knn_distances as knn
from gencurate.metrics.knn_distances import ball_statistics, knn_radii, nearest_distances, squared_distance_blocks


def points(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 5000])
def test_nearest_distances_match_brute_force(batch_size):
    q, b = points(130, 9, 0), points(211, 9, 1)
    expected = np.sort(cdist(q.astype(np.float64), b.astype(np.float64)), axis=1)[:, :5]
    np.testing.assert_allclose(nearest_distances(q, b, k=5, batch_size=batch_size), expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 5000])
def test_symmetric_self_sweep_matches_brute_force(batch_size):
    x = points(150, 9, 2)
    expected = np.sort(cdist(x.astype(np.float64), x.astype(np.float64)), axis=1)[:, :4]
    got = nearest_distances(x, k=4, batch_size=batch_size)  # base=None: the half-sweep
    np.testing.assert_allclose(got[:, 1:], expected[:, 1:], rtol=1e-4, atol=1e-4)
    assert np.all(got[:, 0] < 2e-3)  # the point itself, at 0 up to float32 round-off


def test_knn_radii_skip_the_point_itself():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(knn_radii(x, k=1, batch_size=2), [1, 1, 2, 4])
    np.testing.assert_allclose(knn_radii(x, k=2, batch_size=3), [3, 2, 3, 6])


def test_ball_statistics_match_brute_force():
    a, b = points(90, 5, 2), points(70, 5, 3)
    ra = np.random.default_rng(4).uniform(0.2, 2.5, size=(2, 90)).astype(np.float32)
    rb = np.random.default_rng(5).uniform(0.2, 2.5, size=70).astype(np.float32)
    d2 = cdist(a.astype(np.float64), b.astype(np.float64)) ** 2
    stats = ball_statistics(a, b, sq_radii_a=ra, sq_radii_b=rb, sq_count_radii_b=np.stack([rb, rb / 2]), batch_size=16)
    np.testing.assert_array_equal(stats.a_in_b[0], (d2 <= rb[None, :]).any(1))
    for s in range(2):
        np.testing.assert_array_equal(stats.b_in_a[s], (d2 <= ra[s][:, None]).any(0))
    np.testing.assert_array_equal(stats.a_open_count[0], (d2 < rb[None, :]).sum(1))
    np.testing.assert_array_equal(stats.a_open_count[1], (d2 < rb[None, :] / 2).sum(1))
    np.testing.assert_allclose(stats.b_nearest_sq, d2.min(0), rtol=1e-4, atol=1e-4)
    assert 0 < stats.a_in_b.mean() < 1 and 0 < stats.b_in_a.mean() < 1  # the radii make a non-trivial case


def test_blocks_are_bounded_by_batch_size(monkeypatch):
    """1,100 points at batch_size 256: no distance block beyond 256 x 256, and the self sweep computes
    only the 15 blocks on and above the diagonal of the 5 x 5 block grid."""
    shapes = []
    original = knn._squared_block

    def spy(a, b, a_sq, b_sq, out=None):
        shapes.append((a.shape[0], b.shape[0]))
        return original(a, b, a_sq, b_sq, out=out)

    monkeypatch.setattr(knn, "_squared_block", spy)
    x = points(1100, 8, 6)
    knn_radii(x, k=3, batch_size=256)
    assert len(shapes) == 15
    ball_statistics(x, x, sq_radii_b=np.ones(1100, np.float32), batch_size=256)
    assert len(shapes) == 15 + 25
    assert max(r for r, _ in shapes) == 256 and max(c for _, c in shapes) == 256


def test_squared_distance_blocks_cover_the_matrix_once():
    a, b = torch.from_numpy(points(10, 3, 7)), torch.from_numpy(points(13, 3, 8))
    full = torch.zeros(10, 13)
    hits = torch.zeros(10, 13)
    for rows, cols, d2 in squared_distance_blocks(a, b, batch_size=4):
        full[rows, cols] = d2
        hits[rows, cols] += 1
    assert bool((hits == 1).all())
    torch.testing.assert_close(full, torch.cdist(a, b) ** 2, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: knn_radii(points(3, 2, 0), k=3, batch_size=2048), "at least 4 points"),
        (lambda: nearest_distances(points(3, 2, 0), points(4, 3, 1), batch_size=2048), "dims"),
        (lambda: nearest_distances(points(3, 2, 0), points(4, 2, 1), batch_size=0), "batch_size"),
        (lambda: nearest_distances(np.array([[True, False]]), points(4, 2, 1), batch_size=2048), "real-valued"),
        (lambda: ball_statistics(points(3, 2, 0), points(4, 2, 1), sq_radii_b=np.ones(3), batch_size=2048), "sq_radii_b"),
    ],
)
def test_bad_arguments_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
