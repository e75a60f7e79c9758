"""Dataset card: dataset.md plus static PNG figures (DVC's HTML plots need a CDN; PNGs do not).

Figures: counts per split and class, removals per reason, original size / aspect / brightness
histograms, and a sample grid. Everything is derived from the written outputs, so the card
is byte-identical on rerun.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gencurate.config import PrepareConfig
from gencurate.figures import figure_to_png
from gencurate.data.balance import (
    MAX_MIN_RATIO,
    NORMALISED_ENTROPY,
    counts_to_imbalance,
    counts_to_shares,
)
from gencurate.data.cleaning import CROP_ALIGN_MARGINS, REASONS, THUMBNAIL_GRID
from gencurate.data.pipeline import source_splits
from gencurate.data.sources import Source
from gencurate.data.schema import HEIGHT, ID, LABEL, LABEL_NAME, MODE, SPLIT, SPLITS, TRAIN, WIDTH

CARD_FILE = "dataset.md"
COUNTS_PNG = "counts.png"
REMOVALS_PNG = "removals.png"
PROPERTIES_PNG = "properties.png"
SAMPLES_PNG = "samples.png"
GRID_COLUMNS = 8
GRID_MAX_ROWS = 10
EXAMPLES_PER_REASON = 5


def images_to_brightness(images: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N,) float64 mean pixel value, read chunk by chunk (an `NpyRows` or memmap is fine)."""
    return np.concatenate([images[i:i + chunk].mean(axis=(1, 2, 3)) for i in range(0, len(images), chunk)]
                          or [np.zeros(0)])


def sample_grid_ids(manifest: pd.DataFrame) -> tuple[list[str], list[np.ndarray]]:
    """Rows of the sample grid: one row per class (first training images), or evenly spread rows."""
    train = manifest[manifest[SPLIT] == TRAIN]
    pool = train if len(train) else manifest
    if (pool[LABEL] >= 0).all() and pool[LABEL].nunique() > 1:
        rows = []
        for label, group in pool.groupby(LABEL, sort=True):
            rows.append((str(group[LABEL_NAME].iloc[0]) or str(label), group[ID].to_numpy()[:GRID_COLUMNS]))
        rows = rows[:GRID_MAX_ROWS]
        return [r[0] for r in rows], [r[1] for r in rows]
    ids = pool[ID].to_numpy()
    take = ids[np.linspace(0, len(ids) - 1, min(len(ids), GRID_COLUMNS * GRID_MAX_ROWS)).round().astype(int)]
    chunks = [take[i:i + GRID_COLUMNS] for i in range(0, len(take), GRID_COLUMNS)]
    return [""] * len(chunks), chunks


def _save(fig: Figure, path: Path) -> None:
    figure_to_png(fig, path, dpi=100)


def plot_counts(manifest: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    names = sorted(manifest[LABEL_NAME].unique(), key=lambda c: manifest.loc[manifest[LABEL_NAME] == c, LABEL].iloc[0])
    x = np.arange(len(names))
    top = 0
    for k, split in enumerate(SPLITS):
        counts = [int(((manifest[LABEL_NAME] == c) & (manifest[SPLIT] == split)).sum()) for c in names]
        width = 0.8 / len(SPLITS)
        ax.bar(x + (k - (len(SPLITS) - 1) / 2) * width, counts, width=width, label=split)
        top = max([top, *counts])
    ax.set_xticks(x, [c or "(no label)" for c in names], rotation=30, ha="right")
    ax.set_ylim(0, top * 1.2 + 1)  # headroom for the legend
    ax.set_ylabel("images")
    ax.set_title("Kept images per class and split")
    ax.legend(loc="upper center", ncols=len(SPLITS))
    _save(fig, path)


def plot_removals(rejected: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    counts = [int((rejected["reason"] == r).sum()) for r in REASONS]
    bars = ax.barh(REASONS, counts, color="tab:red")
    ax.bar_label(bars, padding=2)
    ax.invert_yaxis()
    ax.set_xlabel("files removed")
    ax.set_title(f"Removals per reason ({len(rejected)} in total)")
    _save(fig, path)


def plot_properties(manifest: pd.DataFrame, brightness: np.ndarray, path: Path) -> None:
    fig = Figure(figsize=(12, 3.5), layout="constrained")
    axes = fig.subplots(1, 3)
    w, h = manifest[WIDTH].to_numpy(), manifest[HEIGHT].to_numpy()
    panels = [
        (np.minimum(w, h), "original shorter side (pixels)"),
        (w / np.maximum(h, 1), "original aspect ratio (width / height)"),
        (brightness, "mean brightness of prepared image (0-255)"),
    ]
    for ax, (values, label) in zip(axes, panels):
        ax.hist(values, bins=40, color="tab:blue")
        ax.set_xlabel(label)
        ax.set_ylabel("images")
    _save(fig, path)


def samples_to_mosaic(images: np.ndarray, rows: list[np.ndarray], *, pad: int = 2) -> np.ndarray:
    """Grid of `images[ids]` (one list of ids per row) -> (R*(H+pad)+pad, C*(W+pad)+pad, channels) uint8, white gaps."""
    _, h, w, c = images.shape
    mosaic = np.full((len(rows) * (h + pad) + pad, GRID_COLUMNS * (w + pad) + pad, c), 255, dtype=np.uint8)
    for r, ids in enumerate(rows):
        for k, i in enumerate(ids):
            y, x = pad + r * (h + pad), pad + k * (w + pad)
            mosaic[y:y + h, x:x + w] = images[int(i)]
    return mosaic


def plot_samples(images: np.ndarray, manifest: pd.DataFrame, path: Path) -> None:
    names, rows = sample_grid_ids(manifest)
    mosaic = samples_to_mosaic(images, rows)
    fig = Figure(figsize=(GRID_COLUMNS * 1.0 + 1.5, len(rows) * 1.0 + 0.6), layout="constrained")
    ax = fig.add_subplot()
    gray = mosaic.shape[-1] == 1
    ax.imshow(mosaic[..., 0] if gray else mosaic, cmap="gray" if gray else None, vmin=0, vmax=255,
              interpolation="nearest")
    h = images.shape[1] + 2
    ax.set_yticks([2 + h * r + (h - 2) / 2 for r in range(len(rows))], names)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title("Training images (first of each class)" if any(names) else "Training images (evenly spread)")
    _save(fig, path)


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _imbalance_text(counts: np.ndarray) -> str:
    figures = counts_to_imbalance(counts)
    ratio = figures[MAX_MIN_RATIO]
    ratio_text = "a class is empty" if np.isinf(ratio) else f"largest / smallest class {ratio:.2f}x"
    return f"normalised entropy {figures[NORMALISED_ENTROPY]:.3f} (1 = even), {ratio_text}"


def classes_markdown(manifest: pd.DataFrame, classes: list[str] | tuple[str, ...]) -> str:
    """Per class: kept images, share of the data, and per split; imbalance of the whole and of train."""
    labels = manifest[LABEL].to_numpy()
    split = manifest[SPLIT].to_numpy()
    counts = np.array([(labels == i).sum() for i in range(len(classes))])
    train = np.array([((labels == i) & (split == TRAIN)).sum() for i in range(len(classes))])
    shares = counts_to_shares(counts)
    rows = [(i, name, int(counts[i]), f"{shares[i]:.1%}", *(int(((labels == i) & (split == s)).sum()) for s in SPLITS))
            for i, name in enumerate(classes)]
    return ("## Classes\n" + _table(("label", "name", "images", "share", *SPLITS), rows)
            + f"\n\nClass balance: {_imbalance_text(counts)}; in the {TRAIN} split (what selection "
            f"picks from): {_imbalance_text(train)}.")


def card_markdown(manifest: pd.DataFrame, rejected: pd.DataFrame, *, source: Source, config: PrepareConfig,
                  images_shape: tuple[int, ...]) -> str:
    split_rows = [(s, int((manifest[SPLIT] == s).sum())) for s in SPLITS]
    reason_rows = [(r, int((rejected["reason"] == r).sum())) for r in REASONS]
    modes = manifest[MODE].value_counts().sort_index()
    w, h = manifest[WIDTH], manifest[HEIGHT]
    parts = [
        "# Dataset card",
        f"Source: {source.description}. Prepared by `gencurate prepare`: {len(manifest)} images kept, "
        f"{len(rejected)} files removed. Array `images.npy`: shape {tuple(images_shape)}, uint8, "
        f"{config.channels} channel(s); each image centre-cropped to a square and resized to "
        f"{config.image_size}x{config.image_size} (Pillow bicubic, antialiased).",
        "## Splits\n" + _table(("split", "images"), split_rows)
        + ("\n\nSplit as shipped by the source." if source_splits(source, config) is not None else
           f"\n\nReference split: {config.reference_fraction:.0%} drawn with seed {config.seed} "
           "(stratified by class when possible), after duplicates were removed.")
        + f" Validation split (training-time curves): {config.validation_fraction:.0%} of the kept images, drawn "
          f"from the {'reference' if source_splits(source, config) is not None else 'train'} side after duplicates "
          "were removed.",
    ]
    if source.classes:
        parts.append(classes_markdown(manifest, source.classes))
    parts.append(f"![counts per class and split]({COUNTS_PNG})")
    removal = "## Removals\n" + _table(("reason", "files"), reason_rows)
    near = ("near-duplicates disabled" if config.near_duplicate_distance < 0
            else f"near-duplicate = perceptual-hash Hamming distance <= {config.near_duplicate_distance}")
    if config.near_duplicate_distance >= 0 and config.near_duplicate_pixel_distance >= 0:
        what = "CIELAB colour" if config.near_duplicate_colour else "CIELAB lightness (colour variants count as copies)"
        near += (f" and {what} of every cell of a thumbnail of {THUMBNAIL_GRID}x{THUMBNAIL_GRID} cells within {config.near_duplicate_pixel_distance:g} "
                 "(after removing the mean brightness difference)")
    if config.near_duplicate_distance >= 0 and config.crop_check:
        aligned = (", and the same thumbnail check over small crop alignments of either image"
                   if config.near_duplicate_pixel_distance >= 0 else "")
        near += (f"; crops of up to {max(CROP_ALIGN_MARGINS):.0%} per side are searched too (a hash of each image's "
                 f"centre region{aligned})")
    removal += f"\n\nExact duplicates compare decoded pixels; {near}; the first occurrence is kept. " \
               "`leak` = a copy of an image kept in another split.\n"
    for reason in REASONS:
        sub = rejected[rejected["reason"] == reason].head(EXAMPLES_PER_REASON)
        if len(sub):
            removal += f"\n**{reason}** (first {len(sub)}):\n" + "".join(
                f"- `{s}`: {d}\n" for s, d in zip(sub["source"], sub["detail"]))
    parts.append(removal + f"\n![removals per reason]({REMOVALS_PNG})")
    parts.append(
        "## Image properties\n"
        f"Original sizes: width {int(w.min())}-{int(w.max())}, height {int(h.min())}-{int(h.max())} pixels. "
        "Original modes: " + ", ".join(f"{m} ({int(c)})" for m, c in modes.items()) + ".\n\n"
        f"![size, aspect and brightness]({PROPERTIES_PNG})\n\n![sample grid]({SAMPLES_PNG})"
    )
    parts.append("## Licence\n```\n" + source.licence + "\n```")
    return "\n\n".join(parts) + "\n"


def write_dataset_card(directory: str | Path, *, images: np.ndarray, manifest: pd.DataFrame, rejected: pd.DataFrame,
                       source: Source, config: PrepareConfig) -> None:
    """Write dataset.md and its PNGs into an existing `directory`.

    images: (N, H, W, C) uint8 (an `NpyRows` reads it without holding it), row i = manifest id i.
    """
    directory = Path(directory)
    plot_counts(manifest, directory / COUNTS_PNG)
    plot_removals(rejected, directory / REMOVALS_PNG)
    plot_properties(manifest, images_to_brightness(images), directory / PROPERTIES_PNG)
    plot_samples(images, manifest, directory / SAMPLES_PNG)
    text = card_markdown(manifest, rejected, source=source, config=config, images_shape=images.shape)
    (directory / CARD_FILE).write_text(text)
