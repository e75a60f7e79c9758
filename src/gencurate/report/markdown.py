"""The comparison report as Markdown: ranking table, ranking check, figures, selection map, human study."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gencurate.metrics import keys as K
from gencurate.report.summary import MEAN, N, STD
from gencurate.report.uncertainty import CI_HIGH, CI_LOW

ARROWS = {**{k: " ↓" for k in K.LOWER_IS_BETTER}, **{k: " ↑" for k in K.HIGHER_IS_BETTER}, K.KEY_DENSITY: " (~1)"}
LABELS = {
    K.KEY_FD: "FD", K.KEY_KID_MEAN: "KID", K.KEY_PRECISION: "precision", K.KEY_RECALL: "recall",
    K.KEY_DENSITY: "density", K.KEY_COVERAGE: "coverage", K.KEY_MEMORISATION: "memorisation",
    K.KEY_FD_INCEPTION: "Inception FID",
    K.KEY_FD_INFINITY: "FD∞", K.KEY_KID_X1E3: "KID ×10³", K.KEY_INCEPTION_SCORE: "IS",
}
LABELS.update({K.PIXEL_PREFIX + k: "pixel " + LABELS[k] for k in K.PIXEL_METRICS})


def _cell(stat: Mapping[str, float]) -> str:
    if CI_LOW in stat:  # the bootstrap interval (seeds, samples and reference images) when there is one
        return f"{stat[MEAN]:.4g} [{stat[CI_LOW]:.3g}, {stat[CI_HIGH]:.3g}]"
    return f"{stat[MEAN]:.4g} ± {stat[STD]:.2g}" if stat[N] > 1 else f"{stat[MEAN]:.4g}"


def ranking_table(summary: Mapping, ranking: Sequence[str], keys: Sequence[str],
                  steps: Mapping[str, str] | None = None) -> str:
    """Markdown table, one row per method in `ranking` order: mean [interval] (or ± seed std) of each metric
    (and, with `steps`, the training steps each method's models had)."""
    header = ["rank", "method", *(LABELS.get(k, k) + ARROWS.get(k, "") for k in keys), "seeds"]
    header += ["steps"] if steps is not None else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, method in enumerate(ranking, 1):
        stats = summary[method]
        seeds = max(s[N] for s in stats.values())
        extra = [steps.get(method, "–")] if steps is not None else []
        lines.append("| " + " | ".join([str(rank), method, *(_cell(stats[k]) for k in keys), str(seeds), *extra]) + " |")
    return "\n".join(lines)


def comparison_markdown(
    *,
    summary: Mapping,
    ranking: Sequence[str],
    keys: Sequence[str],
    ranking_text: str,
    setup_text: str,
    metrics_figure: str,
    samples_figure: str,
    loss_figure: str | None,
    missing_curves: Sequence[str] = (),
    selection_map: str | None,
    human: str | None,
    sections: Sequence[str] = (),
    convergence: str | None = None,
    steps: Mapping[str, str] | None = None,
) -> str:
    """The whole comparison.md; figure and map arguments are links relative to the report; `sections`
    (Markdown, each with its own heading) follow the ranking."""
    parts = [
        "# Which subset gives the best generator?",
        setup_text,
        ranking_text,
        "## Ranking by FD (lower is better)",
        ranking_table(summary, ranking, keys, steps),
        *sections,
        "## Metrics",
        f"![metric bar charts]({metrics_figure})",
        "## Samples",
        f"![sample grids of every model]({samples_figure})",
        "## Training loss",
        (f"![training loss of every run]({loss_figure})" if loss_figure else "No run has a dvclive loss curve.")
        + (f" No loss curve for: {', '.join(missing_curves)}." if missing_curves and loss_figure else ""),
        *([convergence.strip()] if convergence else []),
        "## Selections",
        f"Where each method's subset lies in the selection embedding: [selection map]({selection_map})."
        if selection_map else "The select stage wrote no selection map.",
    ]
    if human:
        parts.append(human.strip())
    return "\n\n".join(parts) + "\n"
