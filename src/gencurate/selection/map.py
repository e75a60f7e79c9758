"""The 2-D map of the select report: where each method's picks sit among all train images.

t-SNE (van der Maaten & Hinton 2008, scikit-learn's Barnes-Hut) up to a size threshold
(`select.map_tsne_max`): it separates the classes that a linear projection overlaps; above the
threshold its O(N log N) optimisation takes minutes, so the map is the first two principal
components. Both are seeded: the same embeddings give the same PNG bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from gencurate.selection.knn import single_threaded

MAP_FILE = "map.png"
MAP_MAX_POINTS = 20_000  # background points drawn per panel
MAP_COLUMNS = 3
TSNE_PCA_DIMS = 50  # t-SNE runs on the first 50 principal components (the usual denoising step)
TSNE_MAP, PCA_MAP = "t-SNE", "PCA"


def embeddings_to_map(embeddings: np.ndarray, *, seed: int, tsne_max: int) -> tuple[np.ndarray, str]:
    """(N, D) -> ((N, 2) float32 map coordinates, "t-SNE" or "PCA").

    t-SNE when 3 < N <= tsne_max (on at most TSNE_PCA_DIMS principal components, PCA-initialised,
    perplexity min(30, (N - 1) / 3)); else PCA fitted on at most MAP_MAX_POINTS rows.
    """
    n = len(embeddings)
    if embeddings.shape[1] < 2:
        return np.column_stack([embeddings[:, 0], np.zeros(n)]).astype(np.float32), PCA_MAP
    if 3 < n <= tsne_max:
        dims = min(TSNE_PCA_DIMS, embeddings.shape[1], n)
        reduced = PCA(n_components=dims, random_state=seed).fit_transform(embeddings) if dims > 2 else embeddings
        tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed)
        # One OpenMP thread: the same coordinates whatever the core count, and on a shared machine
        # idle OpenMP threads spin-wait (benchmarks/results/selection_radius.json, map_seconds).
        with single_threaded():
            coords = tsne.fit_transform(np.asarray(reduced, dtype=np.float32))
        return coords.astype(np.float32), TSNE_MAP
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, size=min(n, MAP_MAX_POINTS), replace=False))
    pca = PCA(n_components=2, random_state=seed).fit(embeddings[fit_rows])
    return pca.transform(embeddings).astype(np.float32), PCA_MAP


def selections_to_map_figure(
    coords: np.ndarray, selections: Mapping[str, np.ndarray], outliers: np.ndarray, *, seed: int,
    projection: str,
) -> Figure:
    """Small multiples, one panel per method: all rows grey, picks blue, the least typical 1% red
    (purple diamonds where picked).

    coords: (N, 2) map coordinates (`embeddings_to_map`, whose `projection` names the title);
    selections: method -> picked rows.
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
    title = "the first two principal components" if projection == PCA_MAP else f"a {projection} map"
    fig.suptitle(f"Selections on {title} of the selection embeddings", fontsize=10)
    fig.tight_layout()
    return fig
