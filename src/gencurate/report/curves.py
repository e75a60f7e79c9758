"""Curves of every run, gathered from the dvclive logs of the train stage: training loss and validation FD."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from gencurate.figures import figure_to_png  # noqa: E402
from gencurate.metrics.keys import KEY_FD, KEY_PRECISION, KEY_RECALL  # noqa: E402

STEP, LOSS = "step", "loss"
FD_BOOTSTRAP_STD = "fd_bootstrap_std"  # the last point's bootstrap std (gencurate.diffusion.curves)
EVAL_COLUMNS = (KEY_FD, KEY_PRECISION, KEY_RECALL)


def read_loss_curve(path: str | Path) -> pd.DataFrame | None:
    """dvclive TSV (step, loss, ...) -> DataFrame[step, loss] sorted by step; None if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    curve = pd.read_csv(path, sep="\t")
    if STEP not in curve or LOSS not in curve:
        raise ValueError(f"{path}: expected dvclive columns '{STEP}' and '{LOSS}', got {list(curve.columns)}")
    return curve[[STEP, LOSS]].sort_values(STEP).reset_index(drop=True)


class EvalCurve(NamedTuple):
    """points: DataFrame[step, fd, precision, recall] sorted by step; fd_noise: bootstrap std of the
    last point's FD (None when the run did not log it)."""

    points: pd.DataFrame
    fd_noise: float | None


def _read_metric(path: Path, column: str) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t")
    if STEP not in table or column not in table:
        raise ValueError(f"{path}: expected dvclive columns '{STEP}' and '{column}', got {list(table.columns)}")
    return table[[STEP, column]]


def read_eval_curve(eval_dir: str | Path) -> EvalCurve | None:
    """A run's dvclive validation curves (eval/<key>.tsv) -> EvalCurve; None when it logged none."""
    eval_dir = Path(eval_dir)
    if not (eval_dir / f"{KEY_FD}.tsv").is_file():
        return None
    points = _read_metric(eval_dir / f"{KEY_FD}.tsv", KEY_FD)
    for column in EVAL_COLUMNS[1:]:
        if (eval_dir / f"{column}.tsv").is_file():
            points = points.merge(_read_metric(eval_dir / f"{column}.tsv", column), on=STEP, how="left")
    noise = None
    if (eval_dir / f"{FD_BOOTSTRAP_STD}.tsv").is_file():
        noise_rows = _read_metric(eval_dir / f"{FD_BOOTSTRAP_STD}.tsv", FD_BOOTSTRAP_STD).sort_values(STEP)
        if len(noise_rows) and int(noise_rows[STEP].iloc[-1]) == int(points[STEP].max()):
            noise = float(noise_rows[FD_BOOTSTRAP_STD].iloc[-1])
    return EvalCurve(points.sort_values(STEP).reset_index(drop=True), noise)


def _runs_figure(curves: Mapping[tuple[str, int], pd.DataFrame], path: str | Path, *, column: str, ylabel: str,
                 colors: Mapping[str, tuple], marker: str | None = None) -> None:
    """One panel, one line per (method, seed): colour = method, dash = seed; log scale when all values are > 0."""
    seeds = list(dict.fromkeys(s for _, s in curves))
    dashes = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(7, 4))
    for (method, seed), curve in curves.items():
        ax.plot(curve[STEP], curve[column], color=colors[method], marker=marker, markersize=3,
                linestyle=dashes[seeds.index(seed) % len(dashes)], label=f"{method} seed {seed}", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if all((c[column] > 0).all() for c in curves.values()):
        ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    figure_to_png(fig, path, dpi=110)


def curves_to_figure(
    curves: Mapping[tuple[str, int], pd.DataFrame], path: str | Path, *, colors: Mapping[str, tuple]
) -> None:
    """Training loss of every (method, seed) in one panel (log-scaled)."""
    _runs_figure(curves, path, column=LOSS, ylabel="training loss", colors=colors)


def fd_curves_to_figure(
    curves: Mapping[tuple[str, int], pd.DataFrame], path: str | Path, *, colors: Mapping[str, tuple]
) -> None:
    """Validation FD over training of every (method, seed) in one panel, one marker per curve point."""
    _runs_figure(curves, path, column=KEY_FD, ylabel="validation FD (evaluation encoder)", colors=colors, marker="o")
