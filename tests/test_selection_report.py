"""The comparison report's selection section: imbalance beside FD, galleries beside sample grids."""

from __future__ import annotations

import numpy as np
from PIL import Image

from gencurate.config.paths import PathsConfig
from gencurate.io import write_json
from gencurate.metrics import keys as K
from gencurate.report.selection import GRIDS_DIR, selection_section
from gencurate.selection.gallery import GALLERY_DIR
from gencurate.selection.stats import (
    DATA, GROUP_SHARES, GROUPED_BY, IMBALANCE, MAX_MIN_RATIO, N_POOL, NORMALISED_ENTROPY, PICKED, REMOVED, STATS_FILE,
    counts_to_json_imbalance,
)


def _shares(picked, data):
    return {g: {PICKED: p / sum(picked), DATA: d / sum(data)} for g, p, d in zip(("bag", "shoe"), picked, data)}


def test_section_lists_imbalance_by_fd_and_shows_galleries_beside_grids(tmp_path):
    paths = PathsConfig(**{k: str(tmp_path / v) for k, v in vars(PathsConfig()).items()})
    data = [50, 50]
    stats = {
        "dataset": {GROUP_SHARES: _shares(data, data), IMBALANCE: counts_to_json_imbalance(np.array(data)),
                    GROUPED_BY: "labels", N_POOL: 95, REMOVED: {"outlier": 5}},
        "methods": {
            "typicality": {GROUP_SHARES: _shares([9, 1], data), IMBALANCE: counts_to_json_imbalance(np.array([9, 1]))},
            "typicality+balanced": {GROUP_SHARES: _shares([5, 5], data),
                                    IMBALANCE: counts_to_json_imbalance(np.array([5, 5]))},
            "coreset": {GROUP_SHARES: _shares([10, 0], data), IMBALANCE: counts_to_json_imbalance(np.array([10, 0]))},
        },
    }
    report = tmp_path / "reports" / "selection"
    (report / GALLERY_DIR).mkdir(parents=True)
    write_json(report / STATS_FILE, stats)
    for m in stats["methods"]:
        Image.new("L", (4, 4)).save(report / GALLERY_DIR / f"{m}.png")
        paths.grid_file(m, 0).parent.mkdir(parents=True)
        Image.new("L", (4, 4), 7).save(paths.grid_file(m, 0))
    summary = {"typicality+balanced": {K.KEY_FD: {"mean": 0.31}}, "typicality": {K.KEY_FD: {"mean": 0.35}},
               "coreset": {K.KEY_FD: {"mean": 0.5}}}
    out = tmp_path / "out"
    text = selection_section(paths, summary, ["typicality+balanced", "typicality", "coreset"], [0, 1], out)
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith(("| typicality", "| coreset"))]
    assert rows[0].startswith("| typicality+balanced | 0.31 | 1.000 | 1.00 |")
    assert rows[1].startswith("| typicality | 0.35 | 0.469 | 9.00 | shoe: 10.0% of the picks, 50.0% of the data")
    assert rows[2].startswith("| coreset | 0.5 | 0.000 | ∞ (a group has none) | shoe: 0.0%")
    assert "Removed before any method ran: 5 as outlier (95 images left)" in text
    assert "![coreset picks](../selection/gallery/coreset.png) | ![coreset samples](grids/coreset.png)" in text
    assert (out / GRIDS_DIR / "coreset.png").read_bytes() == paths.grid_file("coreset", 0).read_bytes()
    assert counts_to_json_imbalance(np.array([9, 1]))[MAX_MIN_RATIO] == 9.0
    assert round(counts_to_json_imbalance(np.array([9, 1]))[NORMALISED_ENTROPY], 3) == 0.469
