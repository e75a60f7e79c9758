"""One way to write a matplotlib figure: a PNG written atomically, without the library's version in
its bytes, so an unchanged figure stays byte-identical across reruns and `dvc plots diff` shows
only real changes."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from gencurate.io import atomic_path

PNG_METADATA = {"Software": None}  # matplotlib stamps its version here by default


def figure_to_png(fig: Figure, path: str | Path, *, dpi: float) -> None:
    """Write `fig` to `path` as a PNG at `dpi` and release it (pyplot keeps figures it made alive)."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata=PNG_METADATA)
    plt.close(fig)
