"""Selection methods on planted embeddings: hand-computed cases, planted structure, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from gencurate.config.select import SelectConfig
from gencurate.selection import METHODS, kcenter_greedy, select, select_in_order
from gencurate.selection.knn import knn_search
from gencurate.selection.typicality import (
    EPS, embeddings_to_typicality, knn_distances_to_radius, knn_distances_to_typicality, typicality_greedy,
)


def options(**overrides) -> dict:
    """`select`'s keyword arguments at the `select` params section's defaults, with `overrides`."""
    return SelectConfig().method_options() | overrides


SIZES = (60, 50, 40, 30, 20)


def planted(seed: int = 0, dim: int = 8):
    """Tight clusters, four far outliers, exact and near duplicates; rows shuffled.

    Returns (x (N, dim) float32, cluster (N,) int: cluster id or -1 for outliers,
    outliers (4,) rows, twins: (P, 2) rows that are exact or 1e-4-near duplicates).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(SIZES), dim)) * 4
    parts = [c + 0.3 * rng.standard_normal((s, dim)) for c, s in zip(centres, SIZES)]
    cluster = np.concatenate([np.full(s, i) for i, s in enumerate(SIZES)])
    x = np.concatenate(parts)
    # Far outliers, also far from each other.
    far = np.zeros((4, dim))
    far[np.arange(4), np.arange(4)] = [80, -80, 80, -80]
    # Twins of cluster rows: 3 exact copies and 5 near copies.
    src = rng.choice(len(x), 8, replace=False)
    twins = x[src] + np.concatenate([np.zeros((3, dim)), 1e-4 * rng.standard_normal((5, dim))])
    x = np.concatenate([x, far, twins]).astype(np.float32)
    cluster = np.concatenate([cluster, np.full(4, -1), cluster[src]])
    pairs = np.column_stack([src, np.arange(len(x) - 8, len(x))])
    perm = rng.permutation(len(x))
    inverse = np.argsort(perm)
    return x[perm], cluster[perm], np.sort(inverse[len(x) - 12 : len(x) - 8]), inverse[pairs]


LINE = np.array([[0.0], [1.0], [2.0], [4.0], [7.0]], dtype=np.float32)


def test_typicality_hand_computed_line():
    # K=2 neighbour means: 1.5, 1, 1.5, 2.5, 4; r = median of the ten neighbour distances = 2.
    dist, _ = knn_search(LINE, 2, desc=None)
    assert dist.tolist() == [[1, 2], [1, 1], [1, 2], [2, 3], [3, 5]]
    np.testing.assert_allclose(knn_distances_to_typicality(dist), 1 / (np.array([1.5, 1, 1.5, 2.5, 4]) + EPS))
    assert knn_distances_to_radius(dist) == 2.0
    typ, r = embeddings_to_typicality(LINE, 2)
    # First x=1 (most typical). Then x=4 (0.4 * 1) beats x=0 and x=2 (0.667 * min(1, 1/2)).
    assert typicality_greedy(LINE, typ, r, 5, diversity_strength=1.0).tolist() == [1, 3, 0, 2, 4]
    # Squared factor: x=7 (0.25 * 1) beats x=0 (0.667 * 0.25) once x=4 is taken.
    assert typicality_greedy(LINE, typ, r, 5, diversity_strength=2.0).tolist() == [1, 3, 4, 0, 2]
    # No diversity: plain typicality ranking, ties to the lowest index.
    assert typicality_greedy(LINE, typ, r, 5, diversity_strength=0.0).tolist() == [1, 0, 2, 3, 4]


def test_coreset_hand_computed_line():
    seed = next(s for s in range(100) if np.random.default_rng(s).integers(5) == 1)
    # From x=1: farthest is 7, then 4 (distance 3), then 0 and 2 tie at 1 -> lowest index.
    assert kcenter_greedy(LINE, 5, seed=seed).tolist() == [1, 4, 3, 0, 2]


@pytest.mark.parametrize("seed", range(4))
def test_coreset_takes_every_far_outlier_before_any_cluster_point(seed):
    x, cluster, outliers, _ = planted(seed)
    order = kcenter_greedy(x, 40, seed=seed)
    position = {int(row): i for i, row in enumerate(order)}
    first_cluster_pick = min(i for i, row in enumerate(order) if i > 0 and cluster[row] >= 0)  # after the seeded start
    assert all(position[o] < first_cluster_pick for o in outliers)
    assert set(select(x, "coreset", 5, **options(seed=seed))) >= set(outliers)


@pytest.mark.parametrize("seed", range(4))
def test_coreset_never_takes_twins_while_clusters_have_room(seed):
    x, _, _, twins = planted(seed)
    picked = set(select(x, "coreset", 60, **options(seed=seed)).tolist())
    assert not any(a in picked and b in picked for a, b in twins)


@pytest.mark.parametrize("seed", range(4))
def test_typicality_takes_no_outlier_and_no_twins(seed):
    x, cluster, outliers, twins = planted(seed)
    picked = select(x, "typicality", 60, **options(knn_k=10))
    assert not set(picked) & set(outliers)
    assert not any(a in picked and b in picked for a, b in twins)
    gaps = np.linalg.norm(x[picked, None] - x[None, picked], axis=-1) + np.eye(len(picked)) * 1e9
    assert gaps.min() > 1e-2
    # Every cluster is represented: diversity spreads the picks.
    assert set(cluster[picked]) == set(range(len(SIZES)))
    # The first pick is the most typical row.
    typ, _ = embeddings_to_typicality(x, 10)
    assert select_in_order(x, "typicality", 3, **options(knn_k=10))[0] == np.argmax(typ)


@pytest.mark.parametrize("seed", range(4))
def test_typiclust_covers_every_cluster_of_reasonable_size(seed):
    x, cluster, outliers, _ = planted(seed)
    tiny = x[:1] + 40 + 0.1 * np.random.default_rng(seed).standard_normal((3, x.shape[1]))  # 3 far rows
    x = np.concatenate([x, tiny.astype(np.float32)])
    cluster = np.concatenate([cluster, np.full(3, -2)])
    # 12 clusters >= 5 clusters + 4 outliers + the tiny group: k-means++ gives each its own.
    picked = select(x, "typiclust", 12, **options(seed=seed, min_cluster_size=5))
    assert set(cluster[picked]) == set(range(len(SIZES))), "every large cluster, nothing from small ones"
    assert len(set(picked)) == 12


def test_typiclust_meets_budget_beyond_large_clusters():
    x, *_ = planted(0)
    picked = select(x, "typiclust", len(x) - 1, **options(min_cluster_size=1000))  # every cluster "small"
    assert len(np.unique(picked)) == len(x) - 1


def test_random_is_uniform_over_seeds():
    n, budget, seeds = 20, 5, 4000
    x = np.zeros((n, 2), dtype=np.float32)
    counts = np.zeros(n)
    for seed in range(seeds):
        picked = select(x, "random", budget, **options(seed=seed))
        assert len(np.unique(picked)) == budget
        counts[picked] += 1
    assert chisquare(counts).pvalue > 1e-3
    # Pairs too: co-occurrence of rows 0 and 1 matches C(18,3)/C(20,5) = budget(budget-1)/(n(n-1)).
    together = sum(set(select(x, "random", budget, **options(seed=s))) >= {0, 1} for s in range(seeds))
    assert abs(together / seeds - budget * (budget - 1) / (n * (n - 1))) < 0.02


@pytest.mark.parametrize("method", METHODS)
def test_sorted_unique_int64_and_repeatable(method):
    x, *_ = planted(1)
    a = select(x, method, 30, **options(seed=3, knn_k=7))
    b = select(x.copy(), method, 30, **options(seed=3, knn_k=7))
    assert a.dtype == np.int64 and np.array_equal(a, b)
    assert np.all(np.diff(a) > 0)
    assert len(a) == (len(x) if method == "full" else 30)


def test_seed_changes_random_and_coreset_start_only():
    x, *_ = planted(2)
    assert not np.array_equal(select(x, "random", 30, **options(seed=0)), select(x, "random", 30, **options(seed=1)))
    starts = [kcenter_greedy(x, 2, seed=s)[0] for s in (0, 1)]
    assert starts == [np.random.default_rng(s).integers(len(x)) for s in (0, 1)] and starts[0] != starts[1]
    assert np.array_equal(select(x, "typicality", 30, **options(seed=0)), select(x, "typicality", 30, **options(seed=1)))


def test_input_dtype_and_layout_do_not_matter():
    x, *_ = planted(3)
    ref = select(x, "coreset", 25, **options(seed=1))
    assert np.array_equal(select(x.astype(np.float64), "coreset", 25, **options(seed=1)), ref)
    assert np.array_equal(select(np.asfortranarray(x), "coreset", 25, **options(seed=1)), ref)


def test_budget_equal_to_n_takes_everything():
    x, *_ = planted(0)
    for method in ("random", "coreset", "typicality", "typiclust"):
        assert np.array_equal(select(x, method, len(x), **options()), np.arange(len(x)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "magic"}, "unknown selection method 'magic'; valid: full, random, coreset"),
        ({"budget": 0}, "budget must be >= 1, got 0"),
        ({"budget": -3}, "budget must be >= 1, got -3"),
        ({"budget": 2.5}, "budget must be an integer"),
        ({"budget": 11}, "budget 11 exceeds the number of rows (10)"),
        ({"method": "typicality", "knn_k": 10}, "knn_k must be in [1, 9] for 10 rows, got 10"),
        ({"method": "typicality", "knn_k": 0}, "knn_k must be in [1, 9]"),
        ({"method": "typicality", "knn_k": 3, "diversity_strength": -1.0}, "diversity_strength must be >= 0"),
        ({"method": "typiclust", "min_cluster_size": 0}, "min_cluster_size must be >= 1"),
    ],
)
def test_bad_arguments_are_one_line_value_errors(kwargs, message):
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    args = {"method": "coreset", "budget": 3} | kwargs
    with pytest.raises(ValueError) as err:
        select(x, args.pop("method"), args.pop("budget"), **options(**args))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rows_are_named(bad):
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    x[7, 1] = bad
    for method in METHODS:
        with pytest.raises(ValueError, match="embeddings row 7 contains NaN or inf"):
            select(x, method, 3, **options())


@pytest.mark.parametrize("shape", [(5,), (0, 3), (4, 0), (2, 3, 4)])
def test_bad_shapes(shape):
    with pytest.raises(ValueError, match="non-empty \\(N, D\\) array"):
        select(np.zeros(shape, dtype=np.float32), "random", 1, **options())


def test_non_numeric_embeddings():
    with pytest.raises(ValueError, match="must be numeric"):
        select(np.array([["a", "b"]]), "random", 1, **options())


def test_method_options_carry_every_select_param_the_methods_take():
    cfg = SelectConfig(seed=7, knn_k=9, diversity_strength=2.5, typiclust_min_cluster_size=3, typicality_radius="budget",
                       clusters=4, prototypes_keep="hard")
    assert cfg.method_options() == dict(seed=7, knn_k=9, diversity_strength=2.5, min_cluster_size=3, radius_rule="budget",
                                        n_clusters=4, prototypes_keep="hard")
    x, *_ = planted(0)
    # Every key is a keyword select() accepts: the options alone run each method.
    for method in METHODS:
        assert len(select(x, method, 20, **cfg.method_options())) == (len(x) if method == "full" else 20)
