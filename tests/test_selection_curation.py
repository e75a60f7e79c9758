"""Curation beyond the study's methods: balanced budgets, prototypes, SemDeDup, outlier removal,
the budget-aware typicality radius, imbalance figures, galleries and the t-SNE map."""

from __future__ import annotations

from gencurate.figures import figure_to_png

import math

import numpy as np
import pytest

from gencurate.config.select import SelectConfig
from gencurate.selection import METHODS, FULL, select, select_balanced
from gencurate.selection.balanced import split_budget
from gencurate.selection.gallery import N_LEAST_TYPICAL, N_RANDOM, images_to_mosaic, picks_to_gallery_rows
from gencurate.selection.knn import knn_search
from gencurate.selection.map import embeddings_to_map, selections_to_map_figure
from gencurate.selection.prefilter import OUTLIER, REASON, ROW, train_to_pool
from gencurate.selection.prototypes import prototypes
from gencurate.selection.semdedup import semdedup
from gencurate.selection.stats import MAX_MIN_RATIO, NORMALISED_ENTROPY, counts_to_json_imbalance, picks_to_group_shares
from gencurate.selection.typicality import (
    budget_neighbour, embeddings_to_budget_radius, knn_distances_to_typicality,
)


def options(**overrides) -> dict:
    """`select`'s keyword arguments at the `select` params section's defaults, with `overrides`."""
    return SelectConfig().method_options() | overrides


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_split_budget_caps_small_groups_and_redistributes_hand_computed():
    # equal share 30; the 5-row group takes 5, the other 25 go to the two others: 42.5 each,
    # the odd pick to the larger group
    assert split_budget(np.array([100, 5, 50]), 90).tolist() == [43, 5, 42]
    assert split_budget(np.array([10, 10, 10]), 30).tolist() == [10, 10, 10]
    assert split_budget(np.array([4, 9, 9]), 7).tolist() == [2, 3, 2]  # 2 each, 1 left: largest, lowest id
    assert split_budget(np.array([3, 0, 7]), 10).tolist() == [3, 0, 7]
    with pytest.raises(ValueError, match="budget 11"):
        split_budget(np.array([3, 0, 7]), 11)


def _imbalanced(seed=0):
    """Three classes of 60, 8 and 30 rows around separated centres in 8-d."""
    rng = np.random.default_rng(seed)
    sizes = [60, 8, 30]
    labels = np.repeat(np.arange(3), sizes)
    centres = rng.standard_normal((3, 8)) * 4
    x = _unit(centres[labels] + rng.standard_normal((len(labels), 8)))
    order = rng.permutation(len(labels))  # classes interleaved
    return x[order], labels[order]


@pytest.mark.parametrize("method", [m for m in METHODS if m != FULL])
def test_balance_by_labels_picks_equally_per_class_for_every_method(method):
    x, labels = _imbalanced()
    picks = select_balanced(x, labels, method, 30, **options(knn_k=5, seed=0, min_cluster_size=2, n_clusters=3))
    assert len(picks) == 30 and len(np.unique(picks)) == 30
    # 10 each, the 8-row class capped at 8, its 2 spare picks redistributed: 11 and 11
    assert np.bincount(labels[picks], minlength=3).tolist() == [11, 8, 11]
    again = select_balanced(x, labels, method, 30, **options(knn_k=5, seed=0, min_cluster_size=2, n_clusters=3))
    assert np.array_equal(picks, again)


def test_balanced_typicality_within_a_class_is_typicality_on_that_class():
    x, labels = _imbalanced()
    dist, _ = knn_search(x, 5, desc=None)
    picks = select_balanced(x, labels, "typicality", 30, **options(knn_k=5, knn_distances=dist))
    rows = np.flatnonzero(labels == 0)
    alone = rows[select(x[rows], "typicality", 11, **options(knn_k=5, knn_distances=np.ascontiguousarray(dist[rows])))]
    assert set(picks[labels[picks] == 0]) == set(alone)


def test_prototypes_pick_the_points_nearest_their_planted_centroid():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    labels = np.repeat(np.arange(3), 40)
    x = (centres[labels] + rng.standard_normal((120, 2))).astype(np.float32)
    distance = np.array([np.linalg.norm(x[i] - x[labels == labels[i]].mean(0)) for i in range(120)])
    easy = prototypes(x, 12, n_clusters=3, keep="easy", seed=0)
    assert set(easy) == set(np.argsort(distance)[:12])
    hard = prototypes(x, 12, n_clusters=3, keep="hard", seed=0)
    assert set(hard) == set(np.argsort(distance)[-12:])
    assert set(select(x, "prototypes", 12, **options(n_clusters=3))) == set(easy)


def _planted_duplicates(seed=0):
    """40 distinct unit rows in 16-d, then 4 groups of 5 near-identical copies of rows 0..3."""
    rng = np.random.default_rng(seed)
    base = _unit(rng.standard_normal((40, 16)))
    copies = np.repeat(base[:4], 5, axis=0) + 1e-3 * rng.standard_normal((20, 16))
    return _unit(np.vstack([base, copies]).astype(np.float32)), np.r_[np.arange(40), np.repeat(np.arange(4), 5)]


def test_semdedup_removes_planted_near_duplicates_and_keeps_the_most_typical_of_each_group():
    x, origin = _planted_duplicates()
    typicality = np.random.default_rng(1).random(len(x))
    removed, partners, sims = semdedup(x, typicality, threshold=0.95, n_clusters=4, seed=0)
    groups = [np.flatnonzero(origin == g) for g in range(4)]
    kept = [int(g[np.argmax(typicality[g])]) for g in groups]
    expected = sorted(set(np.concatenate(groups)) - set(kept))
    assert removed.tolist() == expected  # 4 groups of 6 rows -> 20 removed, no distinct row
    assert all(origin[p] == origin[r] for r, p in zip(removed, partners))
    assert all(typicality[p] >= typicality[r] for r, p in zip(removed, partners))
    assert np.all(sims > 0.95)


def test_pool_drops_semdedup_duplicates_then_the_least_typical_share():
    x, _ = _planted_duplicates()
    far = _unit(np.r_[x[:2] * -1.0])  # two rows with no close neighbour of the planted ones
    x = np.vstack([x, far])
    dist, _ = knn_search(x, 3, desc=None)
    typicality = knn_distances_to_typicality(dist)
    pool, table = train_to_pool(x, typicality, drop_outliers=0.05, semdedup_threshold=0.95,
                                semdedup_clusters=4, seed=0)
    outliers = table.loc[table[REASON] == OUTLIER, ROW].to_numpy()
    assert len(table) == 20 + math.ceil(0.05 * len(x)) and len(pool) == len(x) - len(table)
    assert set(outliers) == set(np.argsort(typicality)[: len(outliers)])
    assert not set(pool) & set(table[ROW])
    none_pool, empty = train_to_pool(x, typicality, drop_outliers=0.0, semdedup_threshold=None,
                                     semdedup_clusters=4, seed=0)
    assert np.array_equal(none_pool, np.arange(len(x))) and len(empty) == 0


def _mth_neighbour_median(x, m):
    d = np.sqrt(((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(np.median(np.sort(d, axis=1)[:, m - 1]))


def test_budget_radius_is_the_median_distance_to_the_n_over_budget_th_neighbour():
    x = np.random.default_rng(0).standard_normal((200, 5)).astype(np.float32)
    assert budget_neighbour(200, 20) == 10 and budget_neighbour(200, 500) == 1 and budget_neighbour(200, 1) == 199
    dist, _ = knn_search(x, 12, desc=None)
    expected = _mth_neighbour_median(x, 10)
    assert embeddings_to_budget_radius(x, 20, knn_distances=dist, seed=0) == pytest.approx(expected)
    # beyond the K-NN: its own exact search
    assert embeddings_to_budget_radius(x, 20, knn_distances=None, seed=0) == pytest.approx(expected)
    assert embeddings_to_budget_radius(x, 8, knn_distances=dist, seed=0) == pytest.approx(_mth_neighbour_median(x, 25))
    # 1-D grid with spacing 1: the 4th neighbour of an interior point is at distance 2
    grid = np.arange(100, dtype=np.float32)[:, None]
    assert embeddings_to_budget_radius(grid, 25, knn_distances=None, seed=0) == pytest.approx(2.0)


def test_budget_radius_spreads_small_budgets_more():
    x, _ = _imbalanced()
    dist, _ = knn_search(x, 5, desc=None)
    median = select(x, "typicality", 8, **options(knn_k=5, knn_distances=dist))
    budget = select(x, "typicality", 8, **options(knn_k=5, knn_distances=dist, radius_rule="budget"))

    def spacing(p):
        d = np.linalg.norm(x[p][:, None] - x[p][None], axis=-1) + np.eye(len(p)) * 9
        return d.min(1).mean()

    assert spacing(budget) > spacing(median)


def test_imbalance_hand_computed():
    assert counts_to_json_imbalance(np.array([5, 5])) == {NORMALISED_ENTROPY: pytest.approx(1.0), MAX_MIN_RATIO: 1.0}
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert counts_to_json_imbalance(np.array([3, 1])) == {NORMALISED_ENTROPY: pytest.approx(h), MAX_MIN_RATIO: 3.0}
    one_group = counts_to_json_imbalance(np.array([2, 0, 0]))
    assert one_group == {NORMALISED_ENTROPY: 0.0, MAX_MIN_RATIO: None}
    assert math.copysign(1.0, one_group[NORMALISED_ENTROPY]) == 1.0  # JSON gets 0.0, not -0.0
    assert counts_to_json_imbalance(np.array([0, 0])) == {NORMALISED_ENTROPY: 0.0, MAX_MIN_RATIO: None}
    shares, imbalance = picks_to_group_shares(np.array([0, 0, 0, 1, -1]), ["a", "b"], np.array([0, 3, 4]))
    assert shares == {"a": {"picked": 0.5, "data": 0.75}, "b": {"picked": 0.5, "data": 0.25}}
    assert imbalance[MAX_MIN_RATIO] == 1.0


def test_gallery_rows_and_mosaic():
    typicality = np.arange(200.0)[::-1]  # row 199 least typical
    picks = np.arange(0, 200, 2)
    shown, least = picks_to_gallery_rows(picks, typicality, seed=0)
    assert len(shown) == N_RANDOM and set(shown) <= set(picks) and list(shown) == sorted(shown)
    assert least.tolist() == list(range(198, 198 - 2 * N_LEAST_TYPICAL, -2))
    few, few_least = picks_to_gallery_rows(np.array([5, 1]), typicality, seed=0)
    assert few.tolist() == [1, 5] and few_least.tolist() == [5, 1]
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2, 1)
    mosaic = images_to_mosaic(images, columns=2)
    assert mosaic.shape == (5, 5, 1)
    assert mosaic[3:5, 0:2, 0].tolist() == images[2, ..., 0].tolist() and mosaic[2, :, 0].tolist() == [255] * 5


def test_tsne_map_below_the_threshold_is_deterministic_and_byte_stable(tmp_path):
    x, labels = _imbalanced()
    coords, projection = embeddings_to_map(x, seed=0, tsne_max=len(x))
    again, _ = embeddings_to_map(x, seed=0, tsne_max=len(x))
    assert projection == "t-SNE" and np.array_equal(coords, again)
    assert embeddings_to_map(x, seed=0, tsne_max=len(x) - 1)[1] == "PCA"
    # t-SNE keeps the planted classes apart: each row's nearest map neighbour shares its class
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1) + np.eye(len(x)) * 1e9
    assert (labels[d.argmin(1)] == labels).mean() > 0.95
    selections = {"random": np.arange(0, 98, 7)}
    figure_to_png(selections_to_map_figure(coords, selections, np.array([1]), seed=0, projection=projection), tmp_path / "a.png", dpi=100)
    figure_to_png(selections_to_map_figure(again, selections, np.array([1]), seed=0, projection=projection), tmp_path / "b.png", dpi=100)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
