"""Convergence verdict per run and per method: was the validation FD still falling when training stopped?

A run's curve (validation FD every train.eval_every_n_steps) is fitted by a line over its last
`tail_fraction` of points; the FD drop that line predicts across that tail is compared with the
bootstrap std of the last point's FD. A drop larger than `noise_multiple` stds means the model was
still improving, so a ranking of such models is a ranking at a fixed budget, not at convergence
(the study trained until "the FID scores as well as other metrics would converge").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.stats import linregress

from gencurate.config import Params
from gencurate.io import read_json
from gencurate.metrics.keys import KEY_FD, KEY_TRAIN_STEPS
from gencurate.report import layout
from gencurate.report.curves import (
    STEP,
    EvalCurve,
    fd_curves_to_figure,
    read_eval_curve,
)

STILL_FALLING, FLAT, RISING, UNKNOWN = "still falling", "flat within noise", "rising", "unknown"
AT_CONVERGENCE = "at convergence"
STILL_IMPROVING = "at a fixed budget, still improving"
NO_CURVE = "unknown (no usable validation curve)"


class RunConvergence(NamedTuple):
    steps: int | None      # steps the run trained (its train summary, from the checkpoint)
    points: int            # curve points
    fd_first: float
    fd_last: float
    tail_points: int       # points the slope is fitted on
    drop: float            # FD decrease the linear fit predicts across the tail (> 0: falling)
    noise: float | None    # bootstrap std of the last point's FD
    verdict: str           # STILL_FALLING | FLAT | RISING | UNKNOWN


def curve_to_convergence(
    curve: EvalCurve, *, steps: int | None, tail_fraction: float, noise_multiple: float
) -> RunConvergence:
    """One run's validation curve -> its verdict (UNKNOWN with fewer than 2 points or no bootstrap noise)."""
    points = curve.points.sort_values(STEP)
    n = len(points)
    tail = points.tail(max(2, math.ceil(n * tail_fraction)))
    drop = math.nan
    if n >= 2:
        fit = linregress(tail[STEP].to_numpy(np.float64), tail[KEY_FD].to_numpy(np.float64))
        drop = -float(fit.slope) * float(tail[STEP].iloc[-1] - tail[STEP].iloc[0])
    if n < 2 or curve.fd_noise is None:
        verdict = UNKNOWN
    elif drop > noise_multiple * curve.fd_noise:
        verdict = STILL_FALLING
    elif drop < -noise_multiple * curve.fd_noise:
        verdict = RISING
    else:
        verdict = FLAT
    return RunConvergence(steps, n, float(points[KEY_FD].iloc[0]), float(points[KEY_FD].iloc[-1]), len(tail), drop,
                          curve.fd_noise, verdict)


def method_label(verdicts: Sequence[str]) -> str:
    """A method's label from its runs' verdicts: still improving if any run's FD was still falling."""
    if not verdicts or UNKNOWN in verdicts:
        return NO_CURVE
    return STILL_IMPROVING if STILL_FALLING in verdicts else AT_CONVERGENCE


def _number(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def convergence_section(
    runs: Mapping[tuple[str, int], RunConvergence | None], methods: Sequence[str], *, tail_fraction: float,
    noise_multiple: float, figure: str | None,
) -> tuple[str, dict[str, str]]:
    """(Markdown section, {method: label}) for the comparison report; `runs[(m, s)]` is None for a run
    without a validation curve; `figure` links the FD-over-training PNG."""
    header = ("| method | seed | steps | curve points | FD first → last | FD drop over last "
              f"{tail_fraction:.0%} of points | bootstrap std of FD | FD at the end was |")
    rows = [header, "|---|---|---|---|---|---|---|---|"]
    labels = {}
    for method in methods:
        verdicts = []
        for (m, seed), run in runs.items():
            if m != method:
                continue
            if run is None:
                rows.append(f"| {m} | {seed} | – | 0 | – | – | – | {UNKNOWN} |")
            verdicts.append(UNKNOWN if run is None else run.verdict)
            if run is None:
                continue
            rows.append(f"| {m} | {seed} | {run.steps if run.steps is not None else '–'} | {run.points} | "
                        f"{_number(run.fd_first)} → {_number(run.fd_last)} | {_number(run.drop)} "
                        f"({run.tail_points} points) | {_number(run.noise)} | {run.verdict} |")
        labels[method] = method_label(verdicts)
    improving = [m for m in methods if labels[m] == STILL_IMPROVING]
    unknown = [m for m in methods if labels[m] not in (STILL_IMPROVING, AT_CONVERGENCE)]
    if improving:
        verdict = (f"The ranking is **{STILL_IMPROVING}**: the validation FD of {', '.join(improving)} was still "
                   "falling when training stopped, so longer training may reorder the methods.")
    elif unknown:
        verdict = f"Convergence is unknown for {', '.join(unknown)} (no validation curve or too few points)."
    else:
        verdict = f"The ranking is **{AT_CONVERGENCE}**: no run's validation FD was still falling at its end."
    parts = [
        "## Convergence",
        (f"Each run's validation FD over training (the EMA model's samples against the validation split): FD is "
         f"*still falling* when a line fitted to the last {tail_fraction:.0%} of the curve points predicts a drop "
         f"larger than {noise_multiple:g}x the bootstrap std of the last point's FD."),
        f"![validation FD over training of every run]({figure})" if figure else "No run logged a validation curve.",
        "\n".join(rows),
        "Per method: " + "; ".join(f"{m}: {labels[m]}" for m in methods) + ".",
        verdict,
    ]
    return "\n\n".join(parts), labels


def steps_column(steps: Mapping[tuple[str, int], int | None], methods: Sequence[str]) -> dict[str, str]:
    """{method: steps trained} for the ranking table ("2800", or "800/900" when seeds differ; "–" unknown)."""
    out = {}
    for method in methods:
        values = sorted({v for (m, _), v in steps.items() if m == method and v is not None})
        out[method] = "/".join(map(str, values)) if values else "–"
    return out


class ConvergenceReport(NamedTuple):
    markdown: str
    labels: dict[str, str]   # method -> AT_CONVERGENCE | STILL_IMPROVING | UNKNOWN | NO_CURVE
    steps: dict[str, str]    # method -> steps trained, for the ranking table


def read_train_steps(path: Path) -> int | None:
    """A run's train summary (paths.train_summary) -> the steps it trained; None when absent."""
    return int(read_json(path)[KEY_TRAIN_STEPS]) if path.is_file() else None


def convergence_report(params: Params, methods: Sequence[str], out_dir: Path, *, colors: Mapping[str, tuple]
                       ) -> ConvergenceReport:
    """Read every run's validation curve and train summary; write the FD-over-training figure and the
    per-run TSVs (DVC plots) into `out_dir`; return the report section, labels and steps."""
    paths, compare = params.paths, params.compare
    items = [(m, s) for m in methods for s in params.study.seeds]
    curves = {run: read_eval_curve(layout.dvclive_eval_dir(paths, *run)) for run in items}
    steps = {run: read_train_steps(paths.train_summary(*run)) for run in items}
    found = {run: c.points for run, c in curves.items() if c is not None}
    (out_dir / layout.FD_CURVES).mkdir(parents=True, exist_ok=True)
    for (m, s), points in found.items():
        points.to_csv(out_dir / layout.FD_CURVES / layout.loss_curve_name(m, s), sep="\t", index=False)
    if found:
        fd_curves_to_figure(found, out_dir / layout.FD_CURVES_FIGURE, colors=colors)
    runs = {run: None if c is None else curve_to_convergence(
        c, steps=steps[run], tail_fraction=compare.convergence_tail_fraction,
        noise_multiple=compare.convergence_noise_multiple) for run, c in curves.items()}
    text, labels = convergence_section(runs, methods, tail_fraction=compare.convergence_tail_fraction,
                                       noise_multiple=compare.convergence_noise_multiple,
                                       figure=layout.FD_CURVES_FIGURE if found else None)
    return ConvergenceReport(text, labels, steps_column(steps, methods))
