"""What each method picked: per-method statistics (stats.json of the select report; the map is selection.map)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gencurate.data.balance import MAX_MIN_RATIO, NORMALISED_ENTROPY, counts_to_imbalance
from gencurate.selection.knn import knn_search
from gencurate.selection.typicality import knn_distances_to_radius, knn_distances_to_typicality

STATS_FILE = "stats.json"  # inside paths.selection_report
REMOVED_FILE = "removed.csv"  # ids removed before any method ran: id, reason, partner_id, similarity

# Result keys (stats.json: {"dataset": {...}, "methods": {method: {...}}}).
N_PICKED = "n"
MEAN_TYPICALITY = "mean_typicality"
MEAN_NEAREST_PICK_DISTANCE = "mean_nearest_pick_distance"  # to the nearest *other* pick
OUTLIER_SHARE = "outlier_share"  # share of the dataset's outliers that were picked
CLASS_HISTOGRAM = "class_histogram"  # label name -> count; null without labels
RUNTIME_SECONDS = "runtime_seconds"
TYPICALITY_RADIUS = "typicality_radius"  # r of the typicality method (select.typicality_radius)
N_OUTLIERS = "n_outliers"
GROUP_SHARES = "group_shares"  # group -> {"picked": share of the picks, "data": share of the train split}
IMBALANCE = "imbalance"  # of the picks over the groups: {NORMALISED_ENTROPY, MAX_MIN_RATIO (null: a group has none)}
PICKED, DATA = "picked", "data"
GROUPED_BY = "grouped_by"  # dataset: "labels" (the manifest's classes) or "clusters" (k-means)
N_POOL = "n_pool"  # dataset: train images left for the methods after the removals
REMOVED = "removed"  # dataset: reason -> count of train images removed before any method ran

OUTLIER_FRACTION = 0.01  # "outliers": the 1% least typical rows


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


def counts_to_json_imbalance(counts: np.ndarray) -> dict:
    """(K,) counts over the K groups of the data -> {NORMALISED_ENTROPY, MAX_MIN_RATIO} of
    `data.balance.counts_to_imbalance` in JSON terms: the ratio None when a group has none."""
    figures = counts_to_imbalance(counts)
    ratio = figures[MAX_MIN_RATIO]
    return {
        NORMALISED_ENTROPY: figures[NORMALISED_ENTROPY] + 0.0,  # no -0.0 when every pick is in one group
        MAX_MIN_RATIO: ratio if math.isfinite(ratio) else None,
    }


def picks_to_group_shares(groups: np.ndarray, names: Sequence[str], picks: np.ndarray) -> tuple[dict, dict]:
    """(N,) int groups in [0, K) (-1 = none), K names, (M,) picked rows -> ({name: {PICKED: share,
    DATA: share}}, the picks' imbalance over the K groups); shares count rows with a group only."""
    k = len(names)
    data = np.bincount(groups[groups >= 0], minlength=k)
    picked_groups = groups[picks]
    picked = np.bincount(picked_groups[picked_groups >= 0], minlength=k)
    shares = {
        str(name): {PICKED: float(picked[g] / max(picked.sum(), 1)), DATA: float(data[g] / max(data.sum(), 1))}
        for g, name in enumerate(names)
    }
    return shares, counts_to_json_imbalance(picked)


def labels_to_groups(labels: np.ndarray, names: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """(N,) int labels (-1 = unknown) and optional names -> ((N,) groups in [0, K) or -1, K names)."""
    labels = np.asarray(labels, dtype=np.int64)
    values = np.unique(labels[labels >= 0])
    groups = np.where(labels >= 0, np.searchsorted(values, labels), -1)
    histogram_names = []
    for value in values:
        row = int(np.argmax(labels == value))
        name = None if names is None else names[row]
        histogram_names.append(str(int(value)) if name is None else str(name))
    return groups.astype(np.int64), histogram_names


def selections_to_stats(
    embeddings: np.ndarray,
    selections: Mapping[str, np.ndarray],
    runtimes: Mapping[str, float],
    *,
    knn_distances: np.ndarray,
    labels: np.ndarray | None = None,
    label_names: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    group_names: Sequence[str] | None = None,
    grouped_by: str | None = None,
    dataset_extra: Mapping | None = None,
) -> dict:
    """stats.json content: {"dataset": ..., "methods": {method: ...}}.

    embeddings: (N, D) float32; selections: method -> picked rows; runtimes: method -> seconds;
    knn_distances: (N, K) distances to every row's K nearest other rows (`knn_search`), from
    which the whole set's typicality and outliers follow. groups: (N,) int in [0, len(group_names))
    (-1 = none), the classes or clusters whose shares and imbalance each method gets, named by
    `grouped_by`; dataset_extra: further dataset entries (e.g. the removal counts).
    """
    dist = knn_distances
    typicality, radius = knn_distances_to_typicality(dist), knn_distances_to_radius(dist)
    outliers = typicality_to_outliers(typicality)
    every = np.arange(len(embeddings))
    dataset = picks_to_stats(
        embeddings, every, typicality, outliers, labels=labels, label_names=label_names,
        nearest=float(dist[:, 0].mean()),  # the k-NN above already holds every nearest neighbour
    )
    if groups is not None:
        dataset[GROUP_SHARES], dataset[IMBALANCE] = picks_to_group_shares(groups, group_names, every)
    methods = {}
    for method, picks in selections.items():
        whole = len(picks) == len(embeddings)  # `full` without removals: the dataset's own statistics
        methods[method] = dict(dataset) if whole else picks_to_stats(
            embeddings, picks, typicality, outliers, labels=labels, label_names=label_names
        )
        if groups is not None and not whole:
            methods[method][GROUP_SHARES], methods[method][IMBALANCE] = picks_to_group_shares(
                groups, group_names, picks)
        methods[method][RUNTIME_SECONDS] = round(float(runtimes[method]), 3)
    dataset.update({TYPICALITY_RADIUS: radius, N_OUTLIERS: int(len(outliers))})
    if groups is not None:
        dataset[GROUPED_BY] = grouped_by
    dataset.update(dataset_extra or {})
    return {"dataset": dataset, "methods": methods}
