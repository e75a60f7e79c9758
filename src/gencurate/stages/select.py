"""`gencurate select`: pick `select.budget` train images per method of `study.methods`.

Reads the selection embeddings (rows aligned with the manifest) and the manifest; selects among
split == "train" rows only, after the optional removals (SemDeDup near-duplicates, the least
typical share); writes one sorted id list per method (`paths.selection(method)`) and the report
directory (`paths.selection_report`: stats.json, map.png, removed.csv, gallery/<method>.png).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from gencurate.config import Params
from gencurate.config.strict import require
from gencurate.config.study import split_method
from gencurate.data.schema import ID, LABEL, LABEL_NAME, SPLIT, TRAIN
from gencurate.figures import figure_to_png
from gencurate.io import atomic_path, read_npy, write_ids, write_json
from gencurate.npyrows import NpyRows
from gencurate.selection import BUDGET, FULL, TYPICALITY, as_embeddings, knn_search, select, select_balanced
from gencurate.selection.gallery import GALLERY_DIR, gallery_figure, picks_to_gallery_rows
from gencurate.selection.kmeans import embeddings_to_clusters
from gencurate.selection.map import MAP_FILE, embeddings_to_map, selections_to_map_figure
from gencurate.selection.prefilter import PARTNER, REASON, ROW, SIMILARITY, train_to_pool
from gencurate.selection.stats import (
    N_POOL, REMOVED, REMOVED_FILE, STATS_FILE, TYPICALITY_RADIUS, labels_to_groups, selections_to_stats,
    typicality_to_outliers,
)
from gencurate.selection.typicality import embeddings_to_budget_radius, knn_distances_to_typicality
from gencurate.stages.params_items import stage_params


def load_train(params: Params) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """((N_train, D) float32 selection embeddings, the manifest's train rows, their (N_train,)
    manifest row numbers), checked for alignment."""
    paths = params.paths
    manifest = pd.read_parquet(paths.manifest)
    missing = {ID, SPLIT} - set(manifest.columns)
    if missing:
        raise ValueError(f"{paths.manifest}: missing column(s) {sorted(missing)}")
    embeddings = read_npy(paths.embedding("selection"))
    if embeddings.ndim != 2 or len(embeddings) != len(manifest):
        raise ValueError(
            f"{paths.embedding('selection')} has shape {embeddings.shape} but {paths.manifest} has "
            f"{len(manifest)} rows; re-run `gencurate embed --role selection`"
        )
    rows = np.flatnonzero(manifest[SPLIT].to_numpy() == TRAIN)
    if len(rows) < 2:
        raise ValueError(f"{paths.manifest}: {len(rows)} rows with split == 'train'; need at least 2")
    try:
        embeddings = as_embeddings(embeddings)  # row numbers in its errors are manifest rows
    except ValueError as err:
        raise ValueError(f"{paths.embedding('selection')}: {err}") from None
    return np.ascontiguousarray(embeddings[rows]), manifest.iloc[rows].reset_index(drop=True), rows


def _labels(train: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    labels = train[LABEL].to_numpy(dtype=np.int64) if LABEL in train else None
    names = None
    if LABEL_NAME in train:
        column = train[LABEL_NAME].astype(object)
        names = column.where(column.notna(), None).to_numpy(dtype=object)
    return labels, names


def train_groups(
    params: Params, x: np.ndarray, labels: np.ndarray | None, names, *, use_labels: bool
) -> tuple[np.ndarray, list[str], str]:
    """Groups of the (N, D) rows `x`: the manifest's classes when `use_labels` and it has any,
    else `select.clusters` k-means clusters -> ((N,) int groups or -1, names, "labels" or "clusters")."""
    cfg = params.select
    if use_labels and labels is not None and (labels >= 0).any():
        groups, group_names = labels_to_groups(labels, names)
        return groups, group_names, "labels"
    clusters = embeddings_to_clusters(x, min(cfg.clusters, len(x)), seed=cfg.seed)
    return clusters, [f"cluster {c}" for c in range(int(clusters.max()) + 1)], "clusters"


def remove_before_selection(
    params: Params, x: np.ndarray, typicality: np.ndarray, knn_distances: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """SemDeDup and outlier removal (`train_to_pool`) -> (pool rows, removal table, (P, D) pool
    embeddings, (P, knn_k) pool k-NN distances); without removals the pool is every row."""
    cfg, n = params.select, len(x)
    pool, removed = train_to_pool(x, typicality, drop_outliers=cfg.drop_outliers,
                                  semdedup_threshold=cfg.semdedup_threshold,
                                  semdedup_clusters=cfg.semdedup_clusters, seed=cfg.seed)
    if len(pool) == n:
        return pool, removed, x, knn_distances
    counts = removed[REASON].value_counts().to_dict()
    print(f"select: removed {len(removed)} of {n} train images before selection {counts}", flush=True)
    require(cfg.budget <= len(pool) or set(params.study.methods) == {FULL}, "select.budget",
            f"{cfg.budget} exceeds the {len(pool)} train images left after the removals")
    require(cfg.knn_k < len(pool), "select.knn_k", f"must be smaller than the {len(pool)} images left")
    x_pool = np.ascontiguousarray(x[pool])
    pool_knn, _ = knn_search(x_pool, cfg.knn_k, nlist=cfg.knn_nlist, nprobe=cfg.knn_nprobe, seed=cfg.seed,
                             desc="select k-NN (pool)")
    return pool, removed, x_pool, pool_knn


def pick_every_method(
    params: Params, x_pool: np.ndarray, pool: np.ndarray, pool_groups: np.ndarray | None,
    pool_knn: np.ndarray, knn_seconds: float,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Each method of study.methods on the pool -> ({method: train rows}, {method: seconds})."""
    cfg = params.select
    options = dict(cfg.method_options(), knn_distances=pool_knn)
    picks, runtimes = {}, {}
    for method in params.study.methods:
        base, is_balanced = split_method(method)
        start = time.perf_counter()
        if is_balanced:
            rows = select_balanced(x_pool, pool_groups, base, cfg.budget, **options)
        else:
            rows = select(x_pool, base, cfg.budget, **options)
        picks[method] = pool[rows]
        # typicality's time includes the shared k-NN search it needs
        runtimes[method] = time.perf_counter() - start + (knn_seconds if base == TYPICALITY else 0.0)
        print(f"select: {method}: {len(rows)} of {len(x_pool)} images in {runtimes[method]:.1f} s", flush=True)
    return picks, runtimes


def removed_to_ids(removed: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The removal table with train rows turned into manifest ids (removed.csv)."""
    partner = removed[PARTNER].to_numpy()
    return pd.DataFrame({
        "id": ids[removed[ROW].to_numpy()], "reason": removed[REASON].to_numpy(),
        "partner_id": np.where(partner >= 0, ids[np.maximum(partner, 0)], -1),
        "similarity": removed[SIMILARITY].round(6).to_numpy(),
    })


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    cfg, paths, methods = params.select, params.paths, params.study.methods
    x, train, manifest_rows = load_train(params)
    n = len(x)
    require(cfg.budget <= n or set(methods) == {FULL}, "select.budget",
            f"{cfg.budget} exceeds the {n} train images of {paths.manifest}")
    require(cfg.knn_k < n, "select.knn_k", f"must be smaller than the {n} train images of {paths.manifest}")
    require(cfg.knn_nlist is None or cfg.knn_nlist <= n, "select.knn_nlist",
            f"must not exceed the {n} train images of {paths.manifest}")
    balanced = [m for m in methods if split_method(m)[1]]
    require(cfg.balance != "none" or not balanced, "select.balance",
            f"is none, but study.methods lists {', '.join(balanced)}")

    # One k-NN search serves typicality and the report: exact, or a faiss IVF index for millions of rows.
    start = time.perf_counter()
    knn_distances, _ = knn_search(x, cfg.knn_k, nlist=cfg.knn_nlist, nprobe=cfg.knn_nprobe, seed=cfg.seed,
                                  desc="select k-NN")
    knn_seconds = time.perf_counter() - start
    index = "exact" if cfg.knn_nlist is None else f"IVF nlist={cfg.knn_nlist} nprobe={cfg.knn_nprobe}"
    print(f"select: {cfg.knn_k}-NN of {n} train images ({index}) in {knn_seconds:.1f} s", flush=True)

    typicality = knn_distances_to_typicality(knn_distances)
    pool, removed, x_pool, pool_knn = remove_before_selection(params, x, typicality, knn_distances)

    labels, names = _labels(train)
    pool_groups = None
    if balanced:
        pool_groups, _, grouped_by = train_groups(
            params, x_pool, None if labels is None else labels[pool], None if names is None else names[pool],
            use_labels=cfg.balance == "labels")
        print(f"select: balanced methods split the budget over {len(np.unique(pool_groups))} {grouped_by}",
              flush=True)
    picks, runtimes = pick_every_method(params, x_pool, pool, pool_groups, pool_knn, knn_seconds)

    groups, group_names, grouped_by = train_groups(params, x, labels, names, use_labels=True)  # report: classes
    removed_counts = {reason: int((removed[REASON] == reason).sum()) for reason in sorted(set(removed[REASON]))}
    extra = {N_POOL: int(len(pool)), REMOVED: removed_counts}
    if cfg.typicality_radius == BUDGET:  # the r typicality used, instead of the median K-NN distance
        extra[TYPICALITY_RADIUS] = embeddings_to_budget_radius(x_pool, cfg.budget, knn_distances=pool_knn,
                                                               seed=cfg.seed)
    stats = selections_to_stats(
        x, picks, runtimes, knn_distances=knn_distances, labels=labels, label_names=names, groups=groups,
        group_names=group_names, grouped_by=grouped_by, dataset_extra=extra,
    )
    coords, projection = embeddings_to_map(x, seed=cfg.seed, tsne_max=cfg.map_tsne_max)
    map_figure = selections_to_map_figure(coords, picks, typicality_to_outliers(typicality), seed=cfg.seed,
                                          projection=projection)

    ids = train[ID].to_numpy(dtype=np.int64)
    images = NpyRows(paths.images)
    with atomic_path(paths.selections, directory=True) as tmp:  # whole folder: a dropped method leaves no file
        for method, rows in picks.items():
            write_ids(tmp / paths.selection(method).relative_to(paths.selections), ids[rows])
    with atomic_path(paths.selection_report, directory=True) as tmp:
        write_json(tmp / STATS_FILE, stats)
        figure_to_png(map_figure, tmp / MAP_FILE, dpi=100)
        removed_to_ids(removed, ids).to_csv(tmp / REMOVED_FILE, index=False)
        (tmp / GALLERY_DIR).mkdir()
        for method, rows in picks.items():
            shown, least = picks_to_gallery_rows(rows, typicality, seed=cfg.seed)
            figure = gallery_figure(images[manifest_rows[shown]], images[manifest_rows[least]],
                                    title=f"{method}: {len(rows)} training images")
            figure_to_png(figure, tmp / GALLERY_DIR / f"{method}.png", dpi=100)
