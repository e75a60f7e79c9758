"""Typicality's diversity radius: the median K-NN distance against the budget-aware radius (the
median distance to the (N / budget)-th neighbour), side by side on one selection embedding.

    cd <a prepared and embedded copy of the demo> && python <repo>/benchmarks/selection_radius.py
    python benchmarks/selection_radius.py --planted      # a planted 10-class set instead

For each radius rule (and random and label-balanced typicality as references): mean distance
from a pick to its nearest other pick (the spread), mean typicality, class shares and their
imbalance, run time. Also SemDeDup's removal counts at a few thresholds (to choose its default)
and the time of the t-SNE map at a few sizes (to choose `select.map_tsne_max`).
Writes benchmarks/results/selection_radius.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gencurate.config import load_params
from gencurate.config.select import SelectConfig
from gencurate.selection import select, select_balanced
from gencurate.selection.knn import knn_search
from gencurate.selection.map import embeddings_to_map
from gencurate.selection.semdedup import semdedup
from gencurate.selection.stats import (
    counts_to_json_imbalance, labels_to_groups, mean_nearest_pick_distance,
)
from gencurate.selection.typicality import (
    budget_neighbour, embeddings_to_budget_radius, knn_distances_to_radius, knn_distances_to_typicality,
)
from provenance import provenance

RESULTS = Path(__file__).parent / "results" / "selection_radius.json"
BUDGETS = (100, 1000)
SEMDEDUP_THRESHOLDS = (0.9, 0.95, 0.98)
TSNE_SIZES = (1000, 3000, 11626)


def demo_embedding() -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """The train rows of the selection embedding and their labels, from the current directory's params."""
    params = load_params()
    manifest = pd.read_parquet(params.paths.manifest)
    rows = np.flatnonzero(manifest["split"].to_numpy() == "train")
    x = np.ascontiguousarray(np.load(params.paths.embedding("selection"))[rows])
    groups, names = labels_to_groups(manifest["label"].to_numpy()[rows], manifest["label_name"].to_numpy()[rows])
    return x, groups, names, f"{params.paths.embedding('selection')} (train split, {params.encoders.selection.name})"


def planted_embedding(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """10 Gaussian classes of unequal size (50..1500) and spread in 64-d, L2-normalised."""
    rng = np.random.default_rng(seed)
    sizes = np.linspace(50, 1500, 10).astype(int)
    groups = np.repeat(np.arange(10), sizes)
    centres = rng.standard_normal((10, 64))
    spread = np.linspace(0.3, 1.0, 10)[groups, None]
    x = centres[groups] + spread * rng.standard_normal((len(groups), 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x, groups, [f"class {g}" for g in range(10)], "planted: 10 Gaussian classes, 50..1500 rows, 64-d"


def picks_summary(x, groups, names, typicality, picks, seconds) -> dict:
    counts = np.bincount(groups[picks], minlength=len(names))
    return {
        "mean_nearest_pick_distance": mean_nearest_pick_distance(x, picks),
        "mean_typicality": float(typicality[picks].mean()),
        "class_counts": {n: int(c) for n, c in zip(names, counts)},
        **counts_to_json_imbalance(counts),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", action="store_true", help="a planted set instead of the current directory's")
    parser.add_argument("--no-tsne", action="store_true", help="skip the t-SNE timings")
    args = parser.parse_args()
    x, groups, names, source = planted_embedding() if args.planted else demo_embedding()
    n, k = len(x), 20
    start = time.perf_counter()
    dist, _ = knn_search(x, k, desc=None)
    knn_seconds = time.perf_counter() - start
    typicality = knn_distances_to_typicality(dist)
    result = {
        "source": source, "n": n, "dim": int(x.shape[1]), "knn_k": k, "knn_seconds": round(knn_seconds, 2),
        "data_class_counts": {nm: int(c) for nm, c in zip(names, np.bincount(groups, minlength=len(names)))},
        "machine": provenance() | {"note": "shared by other jobs: times are indicative, the spreads and shares are not affected"},
        "budgets": {},
    }
    # The `select` section's defaults (seed 0, diversity_strength 1), k neighbours, this k-NN.
    median = SelectConfig().method_options() | dict(knn_k=k, knn_distances=dist, radius_rule="knn_median")
    by_budget = median | dict(radius_rule="budget")
    for budget in BUDGETS:
        entry = {"knn_median_radius": knn_distances_to_radius(dist),
                 "budget_neighbour": budget_neighbour(n, budget),
                 "budget_radius": embeddings_to_budget_radius(x, budget, knn_distances=dist, seed=0)}
        runs = {
            "random": lambda b=budget: select(x, "random", b, **median),
            "typicality (knn_median)": lambda b=budget: select(x, "typicality", b, **median),
            "typicality (budget)": lambda b=budget: select(x, "typicality", b, **by_budget),
            "typicality+balanced (knn_median)": lambda b=budget: select_balanced(x, groups, "typicality", b, **median),
            "typicality+balanced (budget)": lambda b=budget: select_balanced(x, groups, "typicality", b, **by_budget),
        }
        for name, run in runs.items():
            start = time.perf_counter()
            picks = run()
            entry[name] = picks_summary(x, groups, names, typicality, picks, time.perf_counter() - start)
            print(f"budget {budget} {name}: nearest-pick {entry[name]['mean_nearest_pick_distance']:.3f}, "
                  f"entropy {entry[name]['normalised_entropy']:.3f}, max/min {entry[name]['max_min_ratio']}", flush=True)
        result["budgets"][str(budget)] = entry
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    result["semdedup"] = {}
    for threshold in SEMDEDUP_THRESHOLDS:
        start = time.perf_counter()
        removed, _, _ = semdedup(x, typicality, threshold=threshold, n_clusters=10, seed=0)
        seconds = time.perf_counter() - start
        result["semdedup"][str(threshold)] = {
            "removed": int(len(removed)), "share": len(removed) / n, "seconds": round(seconds, 2),
            "removed_class_counts": {nm: int(c) for nm, c in zip(names, np.bincount(groups[removed], minlength=len(names)))},
        }
        print(f"semdedup {threshold}: {len(removed)} of {n} removed in {seconds:.1f} s", flush=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_tsne:
        result["map_seconds"] = {}
        for size in sorted({min(s, n) for s in TSNE_SIZES}):
            rows = np.sort(np.random.default_rng(0).choice(n, size, replace=False))
            for tsne_max, label in ((size, "t-SNE"), (0, "PCA")):
                start, cpu = time.perf_counter(), time.process_time()
                embeddings_to_map(x[rows], seed=0, tsne_max=tsne_max)
                result["map_seconds"][f"{label} {size}"] = {"wall": round(time.perf_counter() - start, 2),
                                                            "cpu": round(time.process_time() - cpu, 2)}
                print(f"map {label} at {size}: {result['map_seconds'][f'{label} {size}']}", flush=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    result["loadavg_at_end"] = os.getloadavg()
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
