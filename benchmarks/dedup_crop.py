"""Crops against prepare's near-duplicate detector: which step loses them, and what an aligned
thumbnail check or a second candidate hash would buy.

Uses the planted collection of `benchmarks/dedup.py` (same generator, same seed; crops cut
1-4 % from each side). For the candidate pairs of its files, at two prepare outputs (28 px grey, 32 px RGB):

  candidates  hash        projection pHashes within the default radius (today's candidates)
              hash|zoom   also pairs where one image's pHash of its centre region (a margin
                          cut from each side, as a crop would) is within the radius of the
                          other's plain or centre-region pHash (exact search on 2N codes)
  check       plain       today's 8x8 CIELAB thumbnail check (`thumbnail_distances`)
              aligned     the same distance minimised over small crop-and-rescale alignments of
                          either image (every combination of the given margins per side)

Per combination and thumbnail threshold: recall per planted kind and the pairs between
different pictures that pass (false pairs). The same candidate/check combinations at the
default threshold are counted as removals on the bundled Fashion-MNIST demo (ties between
kept partners broken by index, not by hash distance as prepare does, so counts can differ from
prepare's by a few). Writes benchmarks/results/dedup_crop.json.

    .venv/bin/python benchmarks/dedup_crop.py [--pictures 60]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.color
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import dedup  # noqa: E402  (the planted collection and prepare's decode path)

from gencurate.config import PrepareConfig  # noqa: E402
from gencurate.data.cleaning import (  # noqa: E402
    HASH_GRID,
    HASH_PROJECTIONS,
    THUMBNAIL_GRID,
    near_duplicate_removals,
    thumbnail_distances,
)
from gencurate.data.hamming import hamming_pairs  # noqa: E402
from gencurate.data.images import decode_image  # noqa: E402

RESULT = Path(__file__).with_name("results") / "dedup_crop.json"
SETTINGS = ((28, 1), (32, 3))
ZOOM_MARGIN = 0.025
THRESHOLDS = (8, 12, 16, 30)  # thumbnail thresholds swept on the planted pairs (the default is 8)
ALIGNMENTS = {"aligned_2": (0.0, 0.025), "aligned_3": (0.0, 0.02, 0.04)}  # margins tried per side


def boxes(margins: tuple[float, ...]) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) margins as fractions of the side; the first is no crop."""
    return list(itertools.product(margins, repeat=4))


def grey_or_rgb(pixels: np.ndarray, mode: str) -> Image.Image:
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert(mode)


def box_phash(pixels: np.ndarray, margin: float) -> np.uint64:
    """`pixels_to_phash` of the region left after cutting `margin` from each side, as one word."""
    image = grey_or_rgb(pixels, "L")
    w, h = image.size
    box = (margin * w, margin * h, w - margin * w, h - margin * h)
    thumb = np.asarray(image.resize((HASH_GRID, HASH_GRID), Image.Resampling.BOX, box=box), dtype=np.float64).reshape(-1)
    return np.packbits(HASH_PROJECTIONS @ (thumb - thumb.mean()) > 0).view(np.uint64)[0]


def box_thumbnails(images: np.ndarray, margins: tuple[float, ...]) -> np.ndarray:
    """(K, H, W, C) uint8 -> (K, B, grid*grid, 3) rounded CIELAB thumbnails of each alignment box."""
    bx = boxes(margins)
    out = np.empty((len(images), len(bx), THUMBNAIL_GRID, THUMBNAIL_GRID, 3))
    for k, pixels in enumerate(images):
        image = grey_or_rgb(pixels, "RGB")
        w, h = image.size
        for b, (left, top, right, bottom) in enumerate(bx):
            box = (left * w, top * h, w - right * w, h - bottom * h)
            out[k, b] = np.asarray(image.resize((THUMBNAIL_GRID, THUMBNAIL_GRID), Image.Resampling.BOX, box=box)) / 255.0
    lab = skimage.color.rgb2lab(out.reshape(-1, THUMBNAIL_GRID, THUMBNAIL_GRID, 3))
    return np.round(lab).reshape(len(images), len(bx), THUMBNAIL_GRID ** 2, 3)


def aligned_distances(thumbs: np.ndarray, i: np.ndarray, j: np.ndarray, *, colour: bool) -> np.ndarray:
    """(P,) thumbnail distance of pairs (i, j), minimised over every alignment box of either side."""
    best = thumbnail_distances(thumbs[i, 0], thumbs[j, 0], colour=colour)
    for b in range(1, thumbs.shape[1]):
        best = np.minimum(best, thumbnail_distances(thumbs[i, b], thumbs[j, 0], colour=colour))
        best = np.minimum(best, thumbnail_distances(thumbs[i, 0], thumbs[j, b], colour=colour))
    return best


def candidate_pairs(words: np.ndarray, zoom: np.ndarray | None, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j: (N,) uint64 pHashes within `radius`, plus (when `zoom` is given) pairs
    whose (N,) centre-region pHash is within `radius` of the other's plain or centre pHash;
    exact, via `hamming_pairs` on the stacked 2N codes."""
    n = len(words)
    codes = words if zoom is None else np.concatenate([words, zoom])
    a, b, _ = hamming_pairs(codes.view(np.uint8).reshape(-1, 8), radius=radius)
    a, b = a % n, b % n  # a stacked zoom code stands for its image
    i, j = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([i, j], 1)[i != j], axis=0)
    return pairs[:, 0], pairs[:, 1]


def planted(args_pictures: int, radius: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table = dedup.write_collection(root, args_pictures, seed=0)
        names = [n for n, _, _ in table]
        kinds = np.array([k for _, k, _ in table])
        groups = np.array([g for _, _, g in table])
        for size, channels in SETTINGS:
            pixels = np.stack([decode_image((root / n).read_bytes(), image_size=size, channels=channels, min_size=8,
                                            max_image_pixels=89_478_485).pixels for n in names])
            words = np.array([box_phash(p, 0.0) for p in pixels])
            zoom = np.array([box_phash(p, ZOOM_MARGIN) for p in pixels])
            thumbs = {name: box_thumbnails(pixels, m) for name, m in ALIGNMENTS.items()}
            rows = []
            for cand_name, z in (("hash", None), ("hash|zoom", zoom)):
                i, j = candidate_pairs(words, z, radius)
                same = groups[i] == groups[j]
                crop_total = int(((kinds == "crop").sum()) // 2)
                row_c = {"candidates": cand_name, "candidate_pairs": len(i),
                         "crop_pairs_among_candidates": f"{int((same & (kinds[i] == 'crop')).sum())}/{crop_total}"}
                for colour in (True, False):
                    checks = {"plain": thumbnail_distances(thumbs["aligned_2"][i, 0], thumbs["aligned_2"][j, 0], colour=colour)}
                    checks |= {name: aligned_distances(t, i, j, colour=colour) for name, t in thumbs.items()}
                    for (check, d), t in itertools.product(checks.items(), THRESHOLDS):
                        hit = d <= t
                        row = {**row_c, "check": check, "colour": colour, "pixel_threshold": t,
                               "false_pairs": int((hit & ~same).sum())}
                        for kind in dedup.KINDS[:-1]:
                            total = int((kinds == kind).sum()) // 2
                            row[f"recall_{kind}"] = round(int((hit & same & (kinds[i] == kind)).sum()) / total, 4)
                        rows.append(row)
                        print(f"{size}px_{channels}ch {row}", flush=True)
            out[f"{size}px_{channels}ch"] = rows
    return out


def demo(radius: int, threshold: float) -> dict:
    """Removals on the Fashion-MNIST demo (no planted copies) per candidate source and check."""
    with np.load(dedup.DEMO) as z:
        images = z["images"][..., None]
    words = np.array([box_phash(p, 0.0) for p in images])
    zoom = np.array([box_phash(p, ZOOM_MARGIN) for p in images])
    out: dict = {"images": len(images)}
    for cand_name, zz in (("hash", None), ("hash|zoom", zoom)):
        i, j = candidate_pairs(words, zz, radius)
        rows = np.unique(np.r_[i, j])
        for name, margins in (("plain", (0.0,)), ("aligned_2", ALIGNMENTS["aligned_2"])):
            thumbs = np.zeros((len(images), len(boxes(margins)), THUMBNAIL_GRID ** 2, 3))
            thumbs[rows] = box_thumbnails(images[rows], margins)
            d = aligned_distances(thumbs, i, j, colour=True)
            close = d <= threshold
            removed = near_duplicate_removals(j[close], i[close], np.zeros(int(close.sum()), dtype=np.int64))
            out[f"{cand_name}_{name}_removed"] = len(removed)
            print(f"demo {cand_name} {name}: {len(removed)} removed", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=60)
    args = parser.parse_args()
    defaults = PrepareConfig()
    radius, threshold = defaults.near_duplicate_distance, defaults.near_duplicate_pixel_distance
    start = time.perf_counter()
    result = {"machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
                          "note": "shared machine: other jobs ran on the same 2 cores"},
              "radius": radius, "pixel_threshold": threshold, "zoom_margin": ZOOM_MARGIN,
              "alignment_margins": ALIGNMENTS, "pictures_per_kind": args.pictures}
    result["planted"] = planted(args.pictures, radius)
    result["demo_fashion_mnist"] = demo(radius, threshold)
    result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - start, 1)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
