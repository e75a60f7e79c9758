"""Parity with brute-force NumPy references (full float64 distance matrices) and invariance to
thread counts, worker counts and block sizes."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import gencurate.selection.distance as distance
import gencurate.selection.knn as knn
from gencurate.config.select import SelectConfig
from gencurate.selection import METHODS, kcenter_greedy, select, select_in_order
from gencurate.selection.knn import build_ivf_index, knn_search
from gencurate.selection.typicality import EPS
from gencurate.selection.typiclust import embeddings_to_clusters, typiclust


def options(**overrides) -> dict:
    """`select`'s keyword arguments at the `select` params section's defaults, with `overrides`."""
    return SelectConfig().method_options() | overrides


def mixture(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)) * 2
    x = c[rng.integers(0, centres, n)] + rng.standard_normal((n, dim)) * rng.uniform(0.3, 1.0, (n, 1))
    return x.astype(np.float32)


def full_distances(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def coreset_reference(x: np.ndarray, budget: int, seed: int) -> list[int]:
    """k-center greedy on the full float64 distance matrix."""
    d = full_distances(x)
    order = [int(np.random.default_rng(seed).integers(len(x)))]
    nearest = d[order[0]].copy()
    while len(order) < budget:
        nearest[order] = -np.inf
        order.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, d[order[-1]])
    return order


def typicality_reference(x: np.ndarray, budget: int, k: int, strength: float) -> list[int]:
    """Density x diversity greedy on the full float64 distance matrix."""
    d = full_distances(x)
    knn = np.sort(d + np.diag(np.full(len(x), np.inf)), axis=1)[:, :k]
    typ = 1 / (knn.mean(axis=1) + EPS)
    r = max(np.median(knn), EPS)
    nearest = np.full(len(x), np.inf)
    order: list[int] = []
    while len(order) < budget:
        score = typ * np.minimum(1.0, nearest / r) ** strength
        score[order] = -np.inf
        order.append(int(np.argmax(score)))
        nearest = np.minimum(nearest, d[order[-1]])
    return order


@pytest.mark.parametrize("seed", range(5))
def test_coreset_matches_brute_force(seed):
    x = mixture(300, 16, 6, seed)
    assert kcenter_greedy(x, 60, seed=seed).tolist() == coreset_reference(x, 60, seed)


@pytest.mark.parametrize(("seed", "k", "strength"), [(0, 20, 1.0), (1, 20, 1.0), (2, 5, 0.5), (3, 10, 2.0), (4, 20, 0.0)])
def test_typicality_matches_brute_force(seed, k, strength):
    x = mixture(300, 16, 6, seed)
    ref = typicality_reference(x, 60, k, strength)
    assert select_in_order(x, "typicality", 60, **options(knn_k=k, diversity_strength=strength)).tolist() == ref


def test_float32_near_ties_are_decided_exactly():
    # Unit vectors around a start at the origin: every first distance is 1 within a few float32
    # ulps, so float32 alone cannot tell which is farthest; float64 must.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    seed = 5
    x[np.random.default_rng(seed).integers(len(x))] = 0.0
    norms = np.linalg.norm(x.astype(np.float64), axis=1)
    assert np.ptp(np.sort(norms)[-2:]) < 1e-6  # the near-tie is real
    assert kcenter_greedy(x, 40, seed=seed).tolist() == coreset_reference(x, 40, seed)
    ref = typicality_reference(x, 40, 10, 1.0)
    assert select_in_order(x, "typicality", 40, **options(knn_k=10)).tolist() == ref


def test_knn_matches_brute_force_with_duplicates():
    x = mixture(500, 24, 5, 7)
    x[100] = x[3]  # exact duplicates are neighbours at distance 0
    x[101] = x[3]
    d = full_distances(x)
    np.fill_diagonal(d, np.inf)
    dist, idx = knn_search(x, 10, batch_size=64, desc=None)
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :10], rtol=1e-5, atol=1e-6)
    assert np.all(idx != np.arange(len(x))[:, None]), "a row is never its own neighbour"
    assert dist[3, :2].tolist() == [0.0, 0.0] and set(idx[3, :2]) == {100, 101}
    np.testing.assert_allclose(np.take_along_axis(d, idx, axis=1), dist, rtol=1e-5, atol=1e-6)


def test_knn_near_ties_beyond_the_float32_shortlist_are_found():
    # Row 0 at the origin, the others unit vectors: its distances are all 1 within a few float32
    # ulps, so the float32 shortlist cannot rank them; the near-tie search over all rows must.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[0] = 0.0
    d = full_distances(x)
    np.fill_diagonal(d, np.inf)
    dist, idx = knn_search(x, 5, batch_size=64, desc=None)
    assert idx[0].tolist() == np.argsort(d[0], kind="stable")[:5].tolist()
    np.testing.assert_allclose(dist[0], np.sort(d[0])[:5], rtol=1e-15, atol=0)


def test_more_duplicates_than_k():
    x = np.zeros((6, 3), dtype=np.float32)
    dist, idx = knn_search(x, 2, desc=None)
    assert np.all(dist == 0) and np.all(idx != np.arange(6)[:, None])


def test_ivf_with_every_list_probed_is_exact():
    x = mixture(2000, 16, 10, 3)
    exact, _ = knn_search(x, 5, desc=None)
    ivf, _ = knn_search(x, 5, nlist=16, nprobe=16, seed=0, desc=None)
    np.testing.assert_array_equal(ivf, exact)
    assert build_ivf_index(x, nlist=16, nprobe=2, seed=0).nprobe == 2
    with pytest.raises(ValueError, match="nprobe must be in"):
        build_ivf_index(x, nlist=16, nprobe=17, seed=0)
    with pytest.raises(ValueError, match="an IVF index \\(nlist\\) needs nprobe and seed"):
        knn_search(x, 5, nlist=16, desc=None)


def test_typiclust_picks_the_most_typical_row_of_each_cluster_largest_first():
    x = mixture(400, 8, 12, 5)
    budget, knn_k = 10, 20
    labels = embeddings_to_clusters(x, budget, seed=0)
    sizes = np.bincount(labels, minlength=budget)
    assert sizes.min() >= 5  # every cluster kept: one round, one pick each
    order = typiclust(x, budget, knn_k=knn_k, min_cluster_size=5, seed=0)
    assert list(sizes[labels[order]]) == sorted(sizes, reverse=True)
    for pick in order:
        rows = np.flatnonzero(labels == labels[pick])
        d = full_distances(x[rows])
        np.fill_diagonal(d, np.inf)
        k = min(knn_k, len(rows) // 2)
        typ = 1 / (np.sort(d, axis=1)[:, :k].mean(axis=1) + EPS)
        assert pick == rows[np.argmax(typ)]


def test_greedy_is_invariant_to_workers_and_blocks(monkeypatch):
    x = mixture(3000, 40, 8, 11)
    reference = kcenter_greedy(x, 150, seed=2, workers=1)
    monkeypatch.setattr(distance, "BLOCK_BYTES", 40 * 4 * 97)  # 97-row blocks: 31 of them
    for workers in (1, 2, 5):
        assert np.array_equal(kcenter_greedy(x, 150, seed=2, workers=workers), reference)


def _set_threads(n: int) -> threadpool_limits:
    faiss.omp_set_num_threads(n)
    torch.set_num_threads(n)
    return threadpool_limits(limits=n)


@pytest.mark.parametrize("method", METHODS)
def test_identical_across_thread_counts(method, monkeypatch):
    # Every k-NN and k-means call multi-threaded (no small-work shortcut) and many gemv blocks.
    x = mixture(3000, 32, 30, 13)
    monkeypatch.setattr(knn, "SMALL_WORK", 1)
    monkeypatch.setattr(distance, "BLOCK_BYTES", 32 * 4 * 250)
    before = (faiss.omp_get_max_threads(), torch.get_num_threads())
    results = []
    try:
        for threads in (1, 2):
            monkeypatch.setattr(distance, "cpu_count", lambda threads=threads: threads)
            with _set_threads(threads):
                results.append(select(x, method, 150, **options(seed=4, knn_k=20)))
    finally:
        faiss.omp_set_num_threads(before[0])
        torch.set_num_threads(before[1])
    assert np.array_equal(results[0], results[1])
