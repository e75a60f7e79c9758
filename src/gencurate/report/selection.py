"""The comparison report's selection section: each method's class (or cluster) balance beside its
FD, and its training-image gallery beside its sample grid (both written by the select stage)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from gencurate.config.paths import PathsConfig
from gencurate.io import read_json
from gencurate.metrics import keys as K
from gencurate.report.summary import MEAN
from gencurate.selection.gallery import GALLERY_DIR
from gencurate.selection.stats import (
    DATA, GROUP_SHARES, GROUPED_BY, IMBALANCE, MAX_MIN_RATIO, N_POOL, NORMALISED_ENTROPY, PICKED, REMOVED, STATS_FILE,
)

GRIDS_DIR = "grids"  # inside paths.comparison: <method>.png, the first seed's sample grid


def _ratio(value: float | None) -> str:
    return "∞ (a group has none)" if value is None else f"{value:.2f}"


def imbalance_table(stats: Mapping, summary: Mapping, ranking: Sequence[str]) -> str:
    """Markdown: per method (FD order), FD, normalised entropy and max/min ratio of its picks over
    the groups, and the group it under-picks most (share picked vs share in the data)."""
    lines = ["| method | FD ↓ | normalised entropy (1 = even) | max/min group ratio | most under-picked group |",
             "|---|---|---|---|---|"]
    for method in ranking:
        entry = stats["methods"].get(method)
        if entry is None or IMBALANCE not in entry:
            continue
        shares = entry[GROUP_SHARES]
        worst = min(shares, key=lambda g: (shares[g][PICKED] / shares[g][DATA] if shares[g][DATA] else 1.0, g))
        fd = summary.get(method, {}).get(K.KEY_FD, {}).get(MEAN)
        lines.append(
            f"| {method} | {'' if fd is None else f'{fd:.4g}'} | {entry[IMBALANCE][NORMALISED_ENTROPY]:.3f} | "
            f"{_ratio(entry[IMBALANCE][MAX_MIN_RATIO])} | {worst}: {shares[worst][PICKED]:.1%} of the picks, "
            f"{shares[worst][DATA]:.1%} of the data |"
        )
    return "\n".join(lines)


def selection_section(
    paths: PathsConfig, summary: Mapping, ranking: Sequence[str], seeds: Sequence[int], out_dir: str | Path
) -> str:
    """Markdown of the section; copies each method's first-seed sample grid into out_dir/GRIDS_DIR
    (the folder that becomes `paths.comparison`) so the report's images stay in git-tracked folders."""
    report = Path(paths.selection_report)
    stats_file = report / STATS_FILE
    if not stats_file.is_file():
        return "## What each method picked\n\nThe select stage wrote no statistics."
    stats = read_json(stats_file)
    dataset = stats["dataset"]
    parts = ["## What each method picked"]
    if GROUP_SHARES in dataset:
        removed = ", ".join(f"{n} as {reason}" for reason, n in dataset.get(REMOVED, {}).items() if n)
        parts.append(
            f"Balance over the {len(dataset[GROUP_SHARES])} {dataset[GROUPED_BY]} of the train split "
            f"(the data itself: normalised entropy {dataset[IMBALANCE][NORMALISED_ENTROPY]:.3f}, max/min "
            f"{_ratio(dataset[IMBALANCE][MAX_MIN_RATIO])})."
            + (f" Removed before any method ran: {removed} ({dataset[N_POOL]} images left)." if removed else "")
        )
        parts.append(imbalance_table(stats, summary, ranking))
    rows = ["| method | training images (64 random, 16 least typical) | samples (seed " f"{seeds[0]}) |", "|---|---|---|"]
    (Path(out_dir) / GRIDS_DIR).mkdir(parents=True, exist_ok=True)
    for method in ranking:
        gallery = report / GALLERY_DIR / f"{method}.png"
        grid = paths.grid_file(method, seeds[0])
        if grid.is_file():
            shutil.copyfile(grid, Path(out_dir) / GRIDS_DIR / f"{method}.png")
        gallery_cell = (f"![{method} picks]({Path(os.path.relpath(gallery, paths.comparison)).as_posix()})"
                        if gallery.is_file() else "no gallery")
        grid_cell = f"![{method} samples]({GRIDS_DIR}/{method}.png)" if grid.is_file() else "no samples"
        rows.append(f"| {method} | {gallery_cell} | {grid_cell} |")
    parts.append("\n".join(rows))
    return "\n\n".join(parts)
