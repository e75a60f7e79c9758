"""Every file of the comparison folder from the study's metrics table: summary.json, figures, comparison.md."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from gencurate.config import Params
from gencurate.io import write_json, write_text
from gencurate.metrics import keys as K
from gencurate.report import layout
from gencurate.report.convergence import convergence_report
from gencurate.report.curves import curves_to_figure, read_loss_curve
from gencurate.report.figures import grids_to_figure, method_colors, summary_to_bar_chart
from gencurate.report.independence import independence_section
from gencurate.report.markdown import LABELS, comparison_markdown
from gencurate.report.memorisation import memorisation_section, pairs_to_figure, read_pairs
from gencurate.report.ranking import check_ranking, ranking_paragraph
from gencurate.report.selection import selection_section
from gencurate.report.spaces import inception_note, pixel_space_section
from gencurate.report.summary import MEAN, METHOD, metrics_to_summary, rank_methods
from gencurate.report.uncertainty import add_intervals, all_pairs, pairs_section, study_draws

RANKING = "ranking"                  # summary.json: the ranking check beside the per-method entries
EXPECTED_HELD = "expected_held"
OBSERVED = "observed_by_fd"
CLAIMS = "claims"                    # {"full < typicality": "held" | "failed" | "could not be decided"}
PAIRWISE = "pairwise_fd"             # {"a vs b": share of draws a wins, difference interval, verdict}
# Memorisation details have their own section; the ranking table keeps the headline share.
MEMORISATION_DETAIL = (K.KEY_MEMORISATION_CONTROL, K.KEY_MEMORISATION_EXCESS, K.KEY_COPY_SSIM, K.KEY_COPY_PSNR)
CONVERGENCE = "convergence"          # summary.json: {method: "at convergence" | "at a fixed budget, still improving" | ...}


def summary_document(summary: dict, check, pairs=()) -> dict:
    """summary.json: {method: {metric: {mean, std, n, ci_low, ci_high}}, "ranking": {...}, "pairwise_fd": {...}};
    DVC flattens it (metrics show/diff)."""
    return {**summary, RANKING: {EXPECTED_HELD: check.held, OBSERVED: " < ".join(check.observed),
                                 CLAIMS: check.outcomes()},
            PAIRWISE: {f"{p.a} vs {p.b}": p.as_dict() for p in pairs}}


def setup_sentence(table: pd.DataFrame, seeds) -> str:
    encoders = sorted({f"{e} at {int(s)} px" for e, s in zip(table[K.KEY_ENCODER], table[K.KEY_ENCODER_INPUT_SIZE])})
    n_samples = sorted({int(n) for n in table[K.KEY_N_SAMPLES]})
    n_reference = sorted({int(n) for n in table[K.KEY_N_REFERENCE]})
    return (
        f"Each model's first {'/'.join(map(str, n_samples))} samples against "
        f"{'/'.join(map(str, n_reference))} held-out "
        f"reference images, in the feature space of {', '.join(encoders)} (FD is the Fréchet distance there; it is "
        f"FID only with the Inception encoder). Cells: mean over seeds {', '.join(map(str, seeds))} and its "
        f"interval from a hierarchical bootstrap (seeds, then samples and reference images within each seed)."
    )


def memorisation_report(params: Params, table: pd.DataFrame, summary: dict, ranking, out_dir: Path) -> str:
    """The memorisation section, after drawing each method's closest-pairs figure (pooled over seeds) into out_dir."""
    paths, cfg = params.paths, params.evaluate
    figures = {}
    for m in ranking:
        pooled = read_pairs({s: paths.pairs_file(m, s) for s in params.study.seeds})
        pairs_to_figure(pooled, out_dir / layout.copies_figure(m), count=cfg.memorisation_pairs,
                        title=f"{m}: closest sample / training pairs (all seeds)")
        figures[m] = layout.copies_figure(m)
    return memorisation_section(
        summary, ranking, figures, threshold=float(table[K.KEY_MEMORISATION_THRESHOLD].max()),
        quantile_text=f"the {cfg.memorisation_quantile:g} quantile of the distances from the held-out reference "
                      "images to their nearest image in the whole train split.",
        pairs=cfg.memorisation_pairs)


def write_comparison(
    params: Params, table: pd.DataFrame, out_dir: str | Path, *, replicates: dict, human: str | None = None
) -> dict:
    """Write summary.json, the figures and comparison.md into `out_dir`; return the summary document.

    table: one row per (method, seed) of the study (`read_study_metrics`); replicates: each run's
    bootstrap replicates (`uncertainty.read_replicates`). `out_dir` is the (temporary) folder that
    becomes `paths.comparison`, so relative links are computed from there.
    """
    out_dir = Path(out_dir)
    paths, study, cfg = params.paths, params.study, params.compare
    summary = metrics_to_summary(table, (*K.SUMMARY_KEYS, *K.PIXEL_SUMMARY_KEYS))
    keys = [k for k in K.SUMMARY_KEYS if all(k in summary[m] for m in summary)]
    draws = study_draws(table, replicates, keys, draws=cfg.bootstrap_draws, seed=cfg.seed)
    add_intervals(summary, draws, confidence=cfg.confidence)
    ranking = rank_methods(summary, K.KEY_FD)
    check = check_ranking(summary, cfg.expected_ranking, draws, key=K.KEY_FD, confidence=cfg.confidence)
    means = {m: summary[m][K.KEY_FD][MEAN] for m in ranking}
    pairs = all_pairs(draws, means, ranking, K.KEY_FD, confidence=cfg.confidence)
    document = summary_document(summary, check, pairs)

    methods = [m for m in study.methods if m in set(table[METHOD])]
    sections = [
        pairs_section(pairs, LABELS[K.KEY_FD], cfg.confidence, check.seeds),
        memorisation_report(params, table, summary, ranking, out_dir),
        independence_section(paths.independence_file),
        pixel_space_section(summary, params.evaluate),
        inception_note(summary),
    ]
    sections = [section for section in sections if section]
    colors = method_colors(methods)
    table_keys = [k for k in keys if k not in MEMORISATION_DETAIL]
    summary_to_bar_chart(summary, ranking, table_keys, out_dir / layout.METRICS_FIGURE, colors=colors)
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
    convergence = convergence_report(params, methods, out_dir, colors=colors)
    document[CONVERGENCE] = convergence.labels
    write_json(out_dir / layout.SUMMARY_FILE, document)

    selection_map = layout.selection_map(paths)
    # The link is relative to where the report will live (paths.comparison), not to out_dir.
    map_link = Path(os.path.relpath(selection_map, paths.comparison)).as_posix() if selection_map.is_file() else None
    text = comparison_markdown(
        summary=summary, ranking=ranking, keys=table_keys,
        ranking_text=ranking_paragraph(check),
        setup_text=setup_sentence(table, study.seeds), metrics_figure=layout.METRICS_FIGURE,
        samples_figure=layout.SAMPLES_FIGURE, loss_figure=layout.LOSS_FIGURE if found else None,
        missing_curves=[f"{m} seed {s}" for (m, s), c in curves.items() if c is None],
        selection_map=map_link, human=human, sections=sections,
        convergence=convergence.markdown, steps=convergence.steps,
    )
    text += "\n" + selection_section(paths, summary, ranking, study.seeds, out_dir) + "\n"
    write_text(out_dir / layout.REPORT_FILE, text)
    return document
