"""Static PNG figures of the comparison (DVC's vega plots need a CDN; these work offline and in git)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gencurate.figures import figure_to_png  # noqa: E402
from gencurate.metrics.keys import HIGHER_IS_BETTER, KEY_DENSITY, LOWER_IS_BETTER  # noqa: E402
from gencurate.report.summary import MEAN, STD  # noqa: E402


def _direction(key: str) -> str:
    if key == KEY_DENSITY:
        return " (~1 = real density)"
    return " (lower is better)" if key in LOWER_IS_BETTER else " (higher is better)" if key in HIGHER_IS_BETTER else ""


def method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    """One fixed colour per method (study order), shared by every figure."""
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def summary_to_bar_chart(
    summary: Mapping, methods: Sequence[str], keys: Sequence[str], path: str | Path, *, colors: Mapping[str, tuple]
) -> None:
    """One bar panel per metric: mean over seeds per method (in `methods` order), error bars = seed std."""
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    bar_colors = [colors[m] for m in methods]
    for ax, key in zip(axes.flat, keys):
        means = [summary[m][key][MEAN] for m in methods]
        stds = [summary[m][key][STD] for m in methods]
        ax.bar(range(len(methods)), means, yerr=stds, capsize=4, color=bar_colors)
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
        ax.set_title(key + _direction(key), fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle("Mean over seeds, error bars: std over seeds", fontsize=10)
    fig.tight_layout()
    figure_to_png(fig, path, dpi=110)


def grids_to_figure(
    grids: Mapping[tuple[str, int], str | Path], methods: Sequence[str], seeds: Sequence[int], path: str | Path
) -> None:
    """Sample grid PNGs of every (method, seed) side by side: one column per method, one row per seed."""
    fig, axes = plt.subplots(len(seeds), len(methods), figsize=(3.2 * len(methods), 3.4 * len(seeds)), squeeze=False)
    for r, seed in enumerate(seeds):
        for c, method in enumerate(methods):
            with Image.open(grids[method, seed]) as im:
                image = np.asarray(im.convert("RGB"))
            ax = axes[r, c]
            ax.imshow(image, interpolation="nearest")
            ax.set_title(f"{method}, seed {seed}", fontsize=10)
            ax.axis("off")
    fig.tight_layout()
    figure_to_png(fig, path, dpi=110)
