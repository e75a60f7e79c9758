"""Metric files of the study -> one table -> mean, std and n per method and metric."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from gencurate.config.paths import PathsConfig
from gencurate.metrics.keys import HIGHER_IS_BETTER, KEY_FD, SUMMARY_KEYS

METHOD, SEED = "method", "seed"
MEAN, STD, N = "mean", "std", "n"


def read_study_metrics(paths: PathsConfig, methods: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """One row per (method, seed) with every value of its metrics file; a missing file is an error."""
    rows = []
    for method in methods:
        for seed in seeds:
            path = paths.metrics_file(method, seed)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no metrics for {method} seed {seed}; run `gencurate evaluate` first")
            rows.append({METHOD: method, SEED: seed, **json.loads(path.read_text())})
    return pd.DataFrame(rows)


def metrics_to_summary(
    table: pd.DataFrame, keys: Iterable[str] = SUMMARY_KEYS
) -> dict[str, dict[str, dict[str, float]]]:
    """(method, seed, metrics...) table -> {method: {metric: {mean, std, n}}}, methods in table order.

    std is the sample std over seeds (ddof=1), 0.0 for a single seed. Only metrics every run of a
    method has are summarised.
    """
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for method, runs in table.groupby(METHOD, sort=False):
        summary[method] = {}
        for key in keys:
            if key not in runs or runs[key].isna().any():
                continue
            values = runs[key].to_numpy(dtype=np.float64)  # a non-numeric value fails loudly here
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            summary[method][key] = {MEAN: float(values.mean()), STD: std, N: int(len(values))}
    return summary


def rank_methods(summary: dict, key: str = KEY_FD) -> list[str]:
    """Methods best first by the mean of `key` (ascending unless higher is better); ties keep study order."""
    sign = -1.0 if key in HIGHER_IS_BETTER else 1.0
    methods = [m for m in summary if key in summary[m]]
    return sorted(methods, key=lambda m: sign * summary[m][key][MEAN])
