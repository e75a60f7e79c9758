"""File names inside `paths.comparison` (the compare stage's output folder) and the selection map it links.

dvc.yaml's top-level `metrics:`/`plots:` name the same files (tests/test_compare.py checks it).
"""

from __future__ import annotations

from pathlib import Path

from gencurate.config.paths import PathsConfig

SUMMARY_FILE = "summary.json"      # per method and metric: mean, std, n over seeds (a DVC metric)
REPORT_FILE = "comparison.md"      # ranking table, ranking check, figures
METRICS_FIGURE = "metrics.png"     # bar charts with seed error bars
SAMPLES_FIGURE = "samples.png"     # every model's sample grid side by side
LOSS_FIGURE = "train_loss.png"     # every run's training loss curve in one panel
LOSS_CURVES = "train_loss"         # <method>-seed<s>.tsv (step, loss): DVC plots of the same curves
# Where dvclive (train stage) writes the loss curve inside paths.train_log_dir(method, seed).
DVCLIVE_LOSS_TSV = Path("plots") / "metrics" / "train" / "loss.tsv"
SELECTION_MAP = "map.png"          # written by the select stage into paths.selection_report
COPIES_FIGURE = "copies-{method}.png"  # a method's closest sample/training pairs (memorisation section)
FD_CURVES_FIGURE = "fd_curves.png"  # every run's validation FD over training in one panel
FD_CURVES = "fd_curves"            # <method>-seed<s>.tsv (step, fd, precision, recall): DVC plots of the same
# Where the train stage's validation curves (dvclive, gencurate.diffusion.curves) sit inside paths.train_log_dir.
DVCLIVE_EVAL_DIR = Path("plots") / "metrics" / "eval"


def copies_figure(method: str) -> str:
    return COPIES_FIGURE.format(method=method)


def loss_curve_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}.tsv"


def dvclive_loss(paths: PathsConfig, method: str, seed: int) -> Path:
    return paths.train_log_dir(method, seed) / DVCLIVE_LOSS_TSV


def selection_map(paths: PathsConfig) -> Path:
    return Path(paths.selection_report) / SELECTION_MAP


def dvclive_eval_dir(paths: PathsConfig, method: str, seed: int) -> Path:
    return paths.train_log_dir(method, seed) / DVCLIVE_EVAL_DIR
