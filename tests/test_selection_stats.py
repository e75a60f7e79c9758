"""The select report: per-method statistics (hand-computed) and the map figure (selection.map)."""

from __future__ import annotations

from gencurate.figures import figure_to_png

import numpy as np
import pytest

from gencurate.config.study import BASE_METHODS
from gencurate.selection import METHODS, knn_search
from gencurate.selection.stats import (
    CLASS_HISTOGRAM, MEAN_NEAREST_PICK_DISTANCE, MEAN_TYPICALITY, N_OUTLIERS, N_PICKED, OUTLIER_SHARE,
    RUNTIME_SECONDS, TYPICALITY_RADIUS, labels_to_histogram, mean_nearest_pick_distance, picks_to_stats,
    selections_to_stats, typicality_to_outliers,
)
from gencurate.selection.map import embeddings_to_map, selections_to_map_figure


def test_methods_match_the_study_config():
    assert set(METHODS) == set(BASE_METHODS)


def test_outliers_are_the_least_typical_rows():
    typ = np.array([5.0, 1.0, 3.0, 1.0, 2.0])
    assert typicality_to_outliers(typ, 0.4).tolist() == [1, 3]
    assert typicality_to_outliers(typ).tolist() == [1]  # ceil(1% of 5) = 1, ties -> lowest row
    assert len(typicality_to_outliers(np.arange(1000.0))) == 10


def test_class_histogram():
    labels = np.array([0, 1, 1, -1, 2])
    names = np.array(["shirt", "shoe", "shoe", None, None], dtype=object)
    assert labels_to_histogram(labels, names) == {"shirt": 1, "shoe": 2, "2": 1}
    assert labels_to_histogram(labels) == {"0": 1, "1": 2, "2": 1}
    assert labels_to_histogram(np.array([-1, -1])) is None
    assert labels_to_histogram(None) is None


def test_nearest_pick_distance_hand_computed():
    x = np.array([[0.0], [1.0], [3.0], [10.0]], dtype=np.float32)
    assert mean_nearest_pick_distance(x, np.array([0, 1, 2])) == pytest.approx((1 + 1 + 2) / 3)
    assert mean_nearest_pick_distance(x, np.array([0, 3])) == pytest.approx(10.0)
    assert mean_nearest_pick_distance(x, np.array([2])) is None


def test_picks_to_stats():
    x = np.array([[0.0], [1.0], [3.0], [10.0]], dtype=np.float32)
    typ = np.array([4.0, 2.0, 1.0, 0.5])
    stats = picks_to_stats(x, np.array([0, 3]), typ, np.array([2, 3]), labels=np.array([1, 1, 0, -1]),
                           label_names=np.array(["b", "b", "a", None], dtype=object))
    assert stats[N_PICKED] == 2
    assert stats[MEAN_TYPICALITY] == pytest.approx(2.25)
    assert stats[MEAN_NEAREST_PICK_DISTANCE] == pytest.approx(10.0)
    assert stats[OUTLIER_SHARE] == 0.5
    assert stats[CLASS_HISTOGRAM] == {"b": 1}


def test_map_and_figure(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    x[:, 0] *= 10  # the first principal component is the first axis
    coords, projection = embeddings_to_map(x, seed=0, tsne_max=0)
    assert projection == "PCA"
    assert coords.shape == (300, 2)
    assert abs(np.corrcoef(coords[:, 0], x[:, 0])[0, 1]) > 0.99
    assert embeddings_to_map(x[:, :1], seed=0, tsne_max=0)[0].shape == (300, 2)
    selections = {"full": np.arange(300), "random": np.arange(0, 300, 10), "coreset": np.arange(5)}
    fig = selections_to_map_figure(coords, selections, np.array([1, 2]), seed=0, projection=projection)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["full (300 of 300)", "random (30 of 300)", "coreset (5 of 300)"]
    figure_to_png(fig, tmp_path / "map.png", dpi=100)
    first = (tmp_path / "map.png").read_bytes()
    figure_to_png(selections_to_map_figure(coords, selections, np.array([1, 2]), seed=0, projection=projection), tmp_path / "again.png", dpi=100)
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "again.png").read_bytes() == first


def test_report_reuses_the_dataset_knn_for_full():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 5)).astype(np.float32)
    selections = {"full": np.arange(200), "random": np.sort(rng.choice(200, 20, replace=False))}
    stats = selections_to_stats(x, selections, {"full": 0.0, "random": 0.5}, knn_distances=knn_search(x, 5)[0])
    full, dataset = stats["methods"]["full"], stats["dataset"]
    assert full[MEAN_NEAREST_PICK_DISTANCE] == pytest.approx(mean_nearest_pick_distance(x, np.arange(200)))
    assert full[MEAN_TYPICALITY] == dataset[MEAN_TYPICALITY] and full[N_PICKED] == dataset[N_PICKED] == 200
    assert stats["methods"]["random"][RUNTIME_SECONDS] == 0.5 and stats["methods"]["random"][N_PICKED] == 20
    assert dataset[N_OUTLIERS] == 2 and dataset[TYPICALITY_RADIUS] > 0 and RUNTIME_SECONDS not in dataset
