"""`gencurate select`: pick `select.budget` train images per method of `study.methods`.

Reads the selection embeddings (rows aligned with the manifest) and the manifest; selects among
split == "train" rows only; writes one sorted id list per method (`paths.selection(method)`) and
the report directory (`paths.selection_report`: stats.json + map.png).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from gencurate.config import Params
from gencurate.config.strict import require
from gencurate.io import atomic_path, read_npy, write_ids, write_json
from gencurate.selection import FULL, TYPICALITY, as_embeddings, knn_search, select
from gencurate.selection.stats import MAP_FILE, STATS_FILE, save_figure, selections_to_report
from gencurate.stages.common import stage_params

TRAIN_SPLIT = "train"


def load_train(params: Params) -> tuple[np.ndarray, pd.DataFrame]:
    """((N_train, D) float32 selection embeddings, the manifest's train rows), checked for alignment."""
    paths = params.paths
    manifest = pd.read_parquet(paths.manifest)
    missing = {"id", "split"} - set(manifest.columns)
    if missing:
        raise ValueError(f"{paths.manifest}: missing column(s) {sorted(missing)}")
    embeddings = read_npy(paths.embedding("selection"))
    if embeddings.ndim != 2 or len(embeddings) != len(manifest):
        raise ValueError(
            f"{paths.embedding('selection')} has shape {embeddings.shape} but {paths.manifest} has "
            f"{len(manifest)} rows; re-run `gencurate embed --role selection`"
        )
    rows = np.flatnonzero(manifest["split"].to_numpy() == TRAIN_SPLIT)
    if len(rows) < 2:
        raise ValueError(f"{paths.manifest}: {len(rows)} rows with split == 'train'; need at least 2")
    try:
        embeddings = as_embeddings(embeddings)  # row numbers in its errors are manifest rows
    except ValueError as err:
        raise ValueError(f"{paths.embedding('selection')}: {err}") from None
    return np.ascontiguousarray(embeddings[rows]), manifest.iloc[rows].reset_index(drop=True)


def _labels(train: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    labels = train["label"].to_numpy(dtype=np.int64) if "label" in train else None
    names = None
    if "label_name" in train:
        column = train["label_name"].astype(object)
        names = column.where(column.notna(), None).to_numpy(dtype=object)
    return labels, names


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    cfg, paths, methods = params.select, params.paths, params.study.methods
    x, train = load_train(params)
    n = len(x)
    require(cfg.budget <= n or set(methods) == {FULL}, "select.budget",
            f"{cfg.budget} exceeds the {n} train images of {paths.manifest}")
    require(cfg.knn_k < n, "select.knn_k", f"must be smaller than the {n} train images of {paths.manifest}")
    require(cfg.knn_nlist is None or cfg.knn_nlist <= n, "select.knn_nlist",
            f"must not exceed the {n} train images of {paths.manifest}")

    # One k-NN search serves typicality and the report: exact, or a faiss IVF index for millions of rows.
    start = time.perf_counter()
    knn_distances, _ = knn_search(x, cfg.knn_k, nlist=cfg.knn_nlist, nprobe=cfg.knn_nprobe, seed=cfg.seed,
                                  desc="select k-NN")
    knn_seconds = time.perf_counter() - start
    index = "exact" if cfg.knn_nlist is None else f"IVF nlist={cfg.knn_nlist} nprobe={cfg.knn_nprobe}"
    print(f"select: {cfg.knn_k}-NN of {n} train images ({index}) in {knn_seconds:.1f} s", flush=True)

    picks, runtimes = {}, {}
    for method in methods:
        start = time.perf_counter()
        picks[method] = select(
            x, method, cfg.budget, seed=cfg.seed, knn_k=cfg.knn_k, diversity_strength=cfg.diversity_strength,
            min_cluster_size=cfg.typiclust_min_cluster_size, knn_distances=knn_distances,
        )
        # typicality's time includes the shared k-NN search it needs
        runtimes[method] = time.perf_counter() - start + (knn_seconds if method == TYPICALITY else 0.0)
        print(f"select: {method}: {len(picks[method])} of {n} train images in {runtimes[method]:.1f} s", flush=True)

    labels, names = _labels(train)
    stats, figure = selections_to_report(
        x, picks, runtimes, knn_distances=knn_distances, labels=labels, label_names=names, seed=cfg.seed
    )

    ids = train["id"].to_numpy(dtype=np.int64)
    with atomic_path(paths.selections, directory=True) as tmp:  # whole folder: a dropped method leaves no file
        for method, rows in picks.items():
            write_ids(tmp / paths.selection(method).relative_to(paths.selections), ids[rows])
    with atomic_path(paths.selection_report, directory=True) as tmp:
        write_json(tmp / STATS_FILE, stats)
        save_figure(figure, tmp / MAP_FILE)
