"""What each method picked: per-method statistics and a 2-D map of the picks (the select report)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from gencurate.selection.knn import knn_search
from gencurate.selection.typicality import knn_distances_to_radius, knn_distances_to_typicality

STATS_FILE = "stats.json"  # inside paths.selection_report
MAP_FILE = "map.png"

# Result keys (stats.json: {"dataset": {...}, "methods": {method: {...}}}).
N_PICKED = "n"
MEAN_TYPICALITY = "mean_typicality"
MEAN_NEAREST_PICK_DISTANCE = "mean_nearest_pick_distance"  # to the nearest *other* pick
OUTLIER_SHARE = "outlier_share"  # share of the dataset's outliers that were picked
CLASS_HISTOGRAM = "class_histogram"  # label name -> count; null without labels
RUNTIME_SECONDS = "runtime_seconds"
TYPICALITY_RADIUS = "typicality_radius"  # r of the typicality method (median K-NN distance)
N_OUTLIERS = "n_outliers"

OUTLIER_FRACTION = 0.01  # "outliers": the 1% least typical rows
MAP_MAX_POINTS = 20_000  # background points drawn per panel
MAP_COLUMNS = 3


def typicality_to_outliers(typicality: np.ndarray, fraction: float = OUTLIER_FRACTION) -> np.ndarray:
    """(N,) typicality -> sorted int64 rows of the ceil(fraction * N) least typical (ties: lowest row)."""
    count = max(1, math.ceil(fraction * len(typicality)))
    return np.sort(np.argsort(typicality, kind="stable")[:count]).astype(np.int64)


def labels_to_histogram(labels: np.ndarray | None, names: np.ndarray | None = None) -> dict[str, int] | None:
    """(M,) int labels (-1 = unknown) and optional (M,) names (None = unnamed) -> {name: count}.

    None when no row has a known label.
    """
    if labels is None:
        return None
    labels = np.asarray(labels)
    known = labels >= 0
    if not known.any():
        return None
    values, first, counts = np.unique(labels[known], return_index=True, return_counts=True)
    known_names = None if names is None else np.asarray(names, dtype=object)[known]
    histogram: dict[str, int] = {}
    for value, row, count in zip(values, first, counts):
        name = None if known_names is None else known_names[row]
        key = str(int(value)) if name is None else str(name)
        histogram[key] = histogram.get(key, 0) + int(count)
    return histogram


def mean_nearest_pick_distance(embeddings: np.ndarray, picks: np.ndarray) -> float | None:
    """Mean Euclidean distance from each pick to its nearest other pick (None for fewer than 2)."""
    if len(picks) < 2:
        return None
    dist, _ = knn_search(np.ascontiguousarray(embeddings[picks]), 1, desc=None)
    return float(dist[:, 0].mean(dtype=np.float64))


def picks_to_stats(
    embeddings: np.ndarray,
    picks: np.ndarray,
    typicality: np.ndarray,
    outliers: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    label_names: np.ndarray | None = None,
    nearest: float | None = None,
) -> dict:
    """Statistics of one selection.

    embeddings: (N, D) float32; picks: (M,) int64 rows; typicality: (N,) float64; outliers:
    rows of the dataset's least typical 1%; labels / label_names: (N,) or None; nearest: the
    mean nearest-other-pick distance when already known.
    """
    return {
        N_PICKED: int(len(picks)),
        MEAN_TYPICALITY: float(typicality[picks].mean(dtype=np.float64)),
        MEAN_NEAREST_PICK_DISTANCE: mean_nearest_pick_distance(embeddings, picks) if nearest is None else nearest,
        OUTLIER_SHARE: float(np.isin(outliers, picks).mean()),
        CLASS_HISTOGRAM: labels_to_histogram(
            None if labels is None else labels[picks], None if label_names is None else label_names[picks]
        ),
    }


def embeddings_to_map(embeddings: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) float32 PCA coordinates, fitted on at most MAP_MAX_POINTS rows."""
    n = len(embeddings)
    if embeddings.shape[1] < 2:
        return np.column_stack([embeddings[:, 0], np.zeros(n)]).astype(np.float32)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=min(n, MAP_MAX_POINTS), replace=False))
    pca = PCA(n_components=2, random_state=seed).fit(embeddings[fit_rows])
    return pca.transform(embeddings).astype(np.float32)


def selections_to_map_figure(
    coords: np.ndarray, selections: Mapping[str, np.ndarray], outliers: np.ndarray, *, seed: int = 0
) -> Figure:
    """Small multiples, one panel per method: all rows grey, picks blue, the least typical 1% red
    (purple diamonds where picked).

    coords: (N, 2) map coordinates; selections: method -> picked rows.
    """
    n = len(coords)
    rng = np.random.default_rng(seed)
    background = np.sort(rng.choice(n, size=min(n, MAP_MAX_POINTS), replace=False))
    cols = min(MAP_COLUMNS, len(selections))
    rows = math.ceil(len(selections) / cols)
    fig = Figure(figsize=(3.6 * cols, 3.4 * rows), dpi=110)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(selections):]:
        ax.set_visible(False)
    for ax, (method, picks) in zip(axes.flat, selections.items()):
        ax.scatter(*coords[background].T, s=2, c="0.82", linewidths=0, rasterized=True)
        shown = picks if len(picks) <= MAP_MAX_POINTS else np.sort(rng.choice(picks, MAP_MAX_POINTS, replace=False))
        ax.scatter(*coords[shown].T, s=4, c="tab:blue", linewidths=0, label="picked")
        taken = np.isin(outliers, picks)  # outliers on top, so picked ones stay visible
        ax.scatter(*coords[outliers[~taken]].T, s=7, c="tab:red", linewidths=0, label="1% least typical")
        ax.scatter(*coords[outliers[taken]].T, s=9, c="tab:purple", marker="D", linewidths=0,
                   label="1% least typical, picked")
        ax.set_title(f"{method} ({len(picks)} of {n})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes.flat[0].legend(loc="best", fontsize=7, markerscale=2, frameon=False)
    fig.suptitle("Selections on the first two principal components of the selection embeddings", fontsize=10)
    fig.tight_layout()
    return fig


def selections_to_report(
    embeddings: np.ndarray,
    selections: Mapping[str, np.ndarray],
    runtimes: Mapping[str, float],
    *,
    knn_distances: np.ndarray,
    labels: np.ndarray | None = None,
    label_names: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[dict, Figure]:
    """stats.json content ({"dataset": ..., "methods": {method: ...}}) and the map figure.

    embeddings: (N, D) float32; selections: method -> picked rows; runtimes: method -> seconds;
    knn_distances: (N, K) distances to every row's K nearest other rows (`knn_search`), from
    which the whole set's typicality and outliers follow.
    """
    dist = knn_distances
    typicality, radius = knn_distances_to_typicality(dist), knn_distances_to_radius(dist)
    outliers = typicality_to_outliers(typicality)
    every = np.arange(len(embeddings))
    dataset = picks_to_stats(
        embeddings, every, typicality, outliers, labels=labels, label_names=label_names,
        nearest=float(dist[:, 0].mean()),  # the k-NN above already holds every nearest neighbour
    )
    methods = {}
    for method, picks in selections.items():
        whole = len(picks) == len(embeddings)  # `full`: the dataset's own statistics
        methods[method] = dict(dataset) if whole else picks_to_stats(
            embeddings, picks, typicality, outliers, labels=labels, label_names=label_names
        )
        methods[method][RUNTIME_SECONDS] = round(float(runtimes[method]), 3)
    dataset.update({TYPICALITY_RADIUS: radius, N_OUTLIERS: int(len(outliers))})
    figure = selections_to_map_figure(embeddings_to_map(embeddings, seed=seed), selections, outliers, seed=seed)
    return {"dataset": dataset, "methods": methods}, figure


def save_figure(fig: Figure, path: str | Path) -> None:
    """PNG without the matplotlib version stamp, so an unchanged map stays byte-identical."""
    fig.savefig(path, format="png", metadata={"Software": None})
