"""Training loss curves of every run, gathered from the dvclive logs of the train stage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

STEP, LOSS = "step", "loss"


def read_loss_curve(path: str | Path) -> pd.DataFrame | None:
    """dvclive TSV (step, loss, ...) -> DataFrame[step, loss] sorted by step; None if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    curve = pd.read_csv(path, sep="\t")
    if STEP not in curve or LOSS not in curve:
        raise ValueError(f"{path}: expected dvclive columns '{STEP}' and '{LOSS}', got {list(curve.columns)}")
    return curve[[STEP, LOSS]].sort_values(STEP).reset_index(drop=True)


def curves_to_figure(
    curves: Mapping[tuple[str, int], pd.DataFrame], path: str | Path, *, colors: Mapping[str, tuple]
) -> None:
    """One panel, one line per (method, seed): colour = method, dash = seed; log-scaled loss."""
    seeds = list(dict.fromkeys(s for _, s in curves))
    dashes = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(7, 4))
    for (method, seed), curve in curves.items():
        ax.plot(curve[STEP], curve[LOSS], color=colors[method],
                linestyle=dashes[seeds.index(seed) % len(dashes)], label=f"{method} seed {seed}", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    if all((c[LOSS] > 0).all() for c in curves.values()):
        ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
