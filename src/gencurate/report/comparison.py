"""Every file of the comparison folder from the study's metrics table: summary.json, figures, comparison.md."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from gencurate.config import Params
from gencurate.io import write_json, write_text
from gencurate.metrics import keys as K
from gencurate.report import layout
from gencurate.report.curves import curves_to_figure, read_loss_curve
from gencurate.report.figures import grids_to_figure, method_colors, summary_to_bar_chart
from gencurate.report.markdown import comparison_markdown
from gencurate.report.ranking import check_ranking, ranking_paragraph
from gencurate.report.selection import selection_section
from gencurate.report.summary import METHOD, metrics_to_summary, rank_methods

RANKING = "ranking"                  # summary.json: the ranking check beside the per-method entries
EXPECTED_HELD = "expected_held"
OBSERVED = "observed_by_fd"


def summary_document(summary: dict, check) -> dict:
    """summary.json: {method: {metric: {mean, std, n}}, "ranking": {...}}; DVC flattens it (metrics show/diff)."""
    return {**summary, RANKING: {EXPECTED_HELD: check.held, OBSERVED: " < ".join(check.observed)}}


def setup_sentence(table: pd.DataFrame, seeds) -> str:
    encoders = sorted({f"{e} at {int(s)} px" for e, s in zip(table[K.KEY_ENCODER], table[K.KEY_ENCODER_INPUT_SIZE])})
    n_samples = sorted({int(n) for n in table[K.KEY_N_SAMPLES]})
    n_reference = sorted({int(n) for n in table[K.KEY_N_REFERENCE]})
    return (
        f"Each model's first {'/'.join(map(str, n_samples))} samples against "
        f"{'/'.join(map(str, n_reference))} held-out "
        f"reference images, in the feature space of {', '.join(encoders)} (FD is the Fréchet distance there; it is "
        f"FID only with the Inception encoder). Cells: mean ± std over seeds {', '.join(map(str, seeds))}."
    )


def write_comparison(params: Params, table: pd.DataFrame, out_dir: str | Path, *, human: str | None = None) -> dict:
    """Write summary.json, metrics.png, samples.png and comparison.md into `out_dir`; return the summary document.

    table: one row per (method, seed) of the study (`read_study_metrics`). `out_dir` is the
    (temporary) folder that becomes `paths.comparison`, so relative links are computed from there.
    """
    out_dir = Path(out_dir)
    paths, study = params.paths, params.study
    summary = metrics_to_summary(table)
    keys = [k for k in K.SUMMARY_KEYS if all(k in summary[m] for m in summary)]
    ranking = rank_methods(summary, K.KEY_FD)
    check = check_ranking(summary, params.compare.expected_ranking, K.KEY_FD)
    document = summary_document(summary, check)
    write_json(out_dir / layout.SUMMARY_FILE, document)

    methods = [m for m in study.methods if m in set(table[METHOD])]
    colors = method_colors(methods)
    summary_to_bar_chart(summary, ranking, keys, out_dir / layout.METRICS_FIGURE, colors=colors)
    grids = {(m, s): paths.grid_file(m, s) for m in methods for s in study.seeds}
    for (m, s), grid in grids.items():
        if not grid.is_file():
            raise FileNotFoundError(f"{grid}: no sample grid for {m} seed {s}; run `gencurate sample` first")
    grids_to_figure(grids, methods, study.seeds, out_dir / layout.SAMPLES_FIGURE)
    curves = {(m, s): read_loss_curve(layout.dvclive_loss(paths, m, s)) for m in methods for s in study.seeds}
    found = {run: curve for run, curve in curves.items() if curve is not None}
    (out_dir / layout.LOSS_CURVES).mkdir(parents=True, exist_ok=True)
    for (m, s), curve in found.items():
        curve.to_csv(out_dir / layout.LOSS_CURVES / layout.loss_curve_name(m, s), sep="\t", index=False)
    if found:
        curves_to_figure(found, out_dir / layout.LOSS_FIGURE, colors=colors)

    selection_map = layout.selection_map(paths)
    # The link is relative to where the report will live (paths.comparison), not to out_dir.
    map_link = Path(os.path.relpath(selection_map, paths.comparison)).as_posix() if selection_map.is_file() else None
    text = comparison_markdown(
        summary=summary, ranking=ranking, keys=keys, ranking_text=ranking_paragraph(check),
        setup_text=setup_sentence(table, study.seeds), metrics_figure=layout.METRICS_FIGURE,
        samples_figure=layout.SAMPLES_FIGURE, loss_figure=layout.LOSS_FIGURE if found else None,
        missing_curves=[f"{m} seed {s}" for (m, s), c in curves.items() if c is None],
        selection_map=map_link, human=human,
    )
    text += "\n" + selection_section(paths, summary, ranking, study.seeds, out_dir) + "\n"
    write_text(out_dir / layout.REPORT_FILE, text)
    return document
