"""The memorisation section: share of copies against the held-out control, and the closest pairs in pixels.

Per method: memorisation (samples within the one shared threshold of their model's training
subset), the control (held-out reference images within it), the excess over the control with its
bootstrap interval, and the mean SSIM/PSNR of the closest sample/training pairs; one figure per
method shows its closest pairs pooled over seeds (sample beside its nearest training image).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gencurate.figures import figure_to_png  # noqa: E402
from gencurate.metrics import keys as K  # noqa: E402
from gencurate.report.summary import MEAN  # noqa: E402
from gencurate.report.uncertainty import CI_HIGH, CI_LOW  # noqa: E402

PAIRS_PER_ROW = 4


def read_pairs(paths_by_seed: Mapping[int, str | Path]) -> dict[str, np.ndarray]:
    """{seed: pairs.npz} -> the pairs of every seed pooled and sorted by feature distance, with a `seed` array."""
    parts = []
    for seed, path in paths_by_seed.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no closest pairs; run `gencurate evaluate` first")
        with np.load(path) as data:
            part = {k: data[k] for k in data.files}
        part["seed"] = np.full(len(part["distance"]), seed)
        parts.append(part)
    pooled = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(pooled["distance"], kind="stable")
    return {k: v[order] for k, v in pooled.items()}


def pairs_to_figure(pairs: Mapping[str, np.ndarray], path: str | Path, *, count: int, title: str) -> None:
    """The `count` closest pairs: each a sample (left) beside its nearest training image (right), labelled
    with seed, feature distance and SSIM; PAIRS_PER_ROW pairs per row."""
    n = min(count, len(pairs["distance"]))
    rows = max(1, -(-n // PAIRS_PER_ROW))
    fig, axes = plt.subplots(rows, 2 * PAIRS_PER_ROW, figsize=(1.3 * 2 * PAIRS_PER_ROW, 1.55 * rows + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    gray = pairs["samples"].shape[-1] == 1
    for i in range(n):
        r, c = divmod(i, PAIRS_PER_ROW)
        for j, (image, label) in enumerate(((pairs["samples"][i], "sample"), (pairs["train"][i], "train"))):
            ax = axes[r, 2 * c + j]
            ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_title(f"s{int(pairs['seed'][i])} d={pairs['distance'][i]:.3g}\nSSIM {pairs['ssim'][i]:.2f}"
                         if j == 0 else f"{label} #{int(pairs['train_id'][i])}", fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    figure_to_png(fig, path, dpi=110)


def _with_interval(stat: Mapping[str, float] | None, fmt: str = ".3f") -> str:
    if not stat:
        return "–"
    if CI_LOW in stat:
        return f"{stat[MEAN]:{fmt}} [{stat[CI_LOW]:{fmt}}, {stat[CI_HIGH]:{fmt}}]"
    return f"{stat[MEAN]:{fmt}}"


def memorisation_section(summary: Mapping, methods: Sequence[str], figures: Mapping[str, str], *, threshold: float,
                         quantile_text: str, pairs: int) -> str:
    """Markdown of the memorisation section; `figures`: {method: link of its pair figure}."""
    lines = ["| method | memorisation ↓ | control (held-out) | excess over control ↓ | "
             f"SSIM of {pairs} closest pairs | PSNR (dB) |", "|---|---|---|---|---|---|"]
    for m in methods:
        s = summary[m]
        lines.append(f"| {m} | {_with_interval(s.get(K.KEY_MEMORISATION))} | "
                     f"{_with_interval(s.get(K.KEY_MEMORISATION_CONTROL))} | "
                     f"{_with_interval(s.get(K.KEY_MEMORISATION_EXCESS), '+.3f')} | "
                     f"{_with_interval(s.get(K.KEY_COPY_SSIM), '.2f')} | "
                     f"{_with_interval(s.get(K.KEY_COPY_PSNR), '.1f')} |")
    text = [
        "## Memorisation",
        f"A sample counts as a copy when it lies within {threshold:.4g} (evaluation features) of an image of its "
        f"model's training subset. That one threshold serves every method: {quantile_text} The control is the same "
        "share for held-out reference images, which copy nothing; a model that does not copy scores about its "
        "control, so the excess is what compares across methods. SSIM/PSNR compare each of the closest samples with "
        "its nearest training image in pixels (identical images: SSIM 1, PSNR at its finite ceiling).",
        "\n".join(lines),
    ]
    for m in methods:
        if m in figures:
            text.append(f"![closest sample/training pairs of {m}]({figures[m]})")
    return "\n\n".join(text)
