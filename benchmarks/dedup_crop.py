"""Crops against prepare's near-duplicate detector: what the crop check (a centre-region hash for
candidates, crop-aligned thumbnails for the check) buys, and what it costs in false pairs.

Uses the planted collection of `benchmarks/dedup.py` (same generator, same seed; crops cut
1-4 % from each side). For the candidate pairs of its files, at several prepare outputs:

  candidates  hash         pHashes within the default radius (crop check off)
              hash|centre  also pairs where one image's centre-region pHash is within the radius
                           of the other's plain or centre pHash (`cleaning.candidate_pairs`)
  check       plain        the 8x8 CIELAB thumbnail distance (`pair_thumbnail_distances`)
                           within the threshold
              aligned      the plain distance within the default `near_duplicate_pixel_distance`,
                           or the smallest distance over crop alignments of either image
                           (`pair_aligned_thumbnail_distances`) within the threshold; per set
                           of alignment margins (every combination of them per side)

Per combination and threshold: recall per planted kind, the pairs between different pictures
that pass (false pairs) and the seconds the aligned check took. Then the removals on the bundled Fashion-MNIST demo
(28 px grey) with the crop check off (the default for grey output) and on. Writes
benchmarks/results/dedup_crop.json.

    .venv/bin/python benchmarks/dedup_crop.py [--pictures 60]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import dedup
import numpy as np
from provenance import provenance

from gencurate.config import PrepareConfig
from gencurate.data.cleaning import (
    CROP_ALIGN_MARGINS,
    CROP_HASH_MARGIN,
    candidate_pairs,
    find_duplicates,
    pair_aligned_thumbnail_distances,
    pair_thumbnail_distances,
    pixels_to_centre_phash,
    pixels_to_phash,
)
from gencurate.data.images import decode_image

RESULT = Path(__file__).with_name("results") / "dedup_crop.json"
SETTINGS = ((28, 1), (32, 3), (64, 3), (128, 3))
THRESHOLDS = (8, 12, 16, 20, 30)
MARGIN_SETS = ((0.0, 0.025), (0.0, 0.03), (0.0, 0.02, 0.04))


def hashes(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, C) uint8 -> plain and centre-region (N, 8) uint8 pHashes."""
    plain = np.stack([np.frombuffer(pixels_to_phash(p), np.uint8) for p in pixels])
    centre = np.stack([np.frombuffer(pixels_to_centre_phash(p), np.uint8) for p in pixels])
    return plain, centre


def planted(pictures: int, radius: int, plain_threshold: float) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table = dedup.write_collection(root, pictures, seed=0)
        names = [n for n, _, _ in table]
        kinds = np.array([k for _, k, _ in table])
        groups = np.array([g for _, _, g in table])
        for size, channels in SETTINGS:
            pixels = np.stack([decode_image((root / n).read_bytes(), image_size=size, channels=channels, min_size=8,
                                            max_image_pixels=89_478_485).pixels for n in names])
            plain, centre = hashes(pixels)
            rows = []
            for cand_name, codes in (("hash", None), ("hash|centre", centre)):
                i, j, _ = candidate_pairs(plain, codes, radius=radius)
                same = groups[i] == groups[j]
                crops = int((kinds == "crop").sum()) // 2
                plain_d = pair_thumbnail_distances(pixels, i, j, colour=True)
                checks = {"plain": (lambda t: plain_d <= t, None, 0.0)}
                for margins in MARGIN_SETS:
                    start = time.perf_counter()
                    d = pair_aligned_thumbnail_distances(pixels, i, j, colour=True, margins=margins)
                    seconds = time.perf_counter() - start
                    checks[f"aligned {margins}"] = (lambda t, d=d: (plain_d <= plain_threshold) | (d <= t), margins,
                                                    seconds)
                for (check, (rule, margins, seconds)), t in itertools.product(checks.items(), THRESHOLDS):
                    hit = rule(t)
                    row = {"candidates": cand_name, "candidate_pairs": len(i),
                           "crop_pairs_among_candidates": f"{int((same & (kinds[i] == 'crop')).sum())}/{crops}",
                           "check": "plain" if margins is None else "aligned", "margins": margins,
                           "check_seconds": round(seconds, 2), "pixel_threshold": t,
                           "false_pairs": int((hit & ~same).sum())}
                    for kind in dedup.KINDS[:-1]:
                        total = int((kinds == kind).sum()) // 2
                        row[f"recall_{kind}"] = round(int((hit & same & (kinds[i] == kind)).sum()) / total, 4)
                    rows.append(row)
                    print(f"{size}px_{channels}ch {row}", flush=True)
            out[f"{size}px_{channels}ch"] = rows
    return out


def demo(config: PrepareConfig) -> dict:
    """Removals on the Fashion-MNIST demo (no planted copies) with the crop check off and on."""
    with np.load(dedup.DEMO) as z:
        images = z["images"][..., None]
    plain, centre = hashes(images)
    digests = np.arange(len(images), dtype="<u4").view(np.uint8).reshape(-1, 4)  # all distinct: near only
    out: dict = {"images": len(images)}
    for name, codes in (("crop_check_off", None), ("crop_check_on", centre)):
        start = time.perf_counter()
        m = find_duplicates(digests, np.ones(len(images), bool), plain, images,
                            max_distance=config.near_duplicate_distance,
                            max_pixel_distance=config.near_duplicate_pixel_distance, colour=True,
                            centre_phashes=codes)
        out[f"{name}_removed"] = len(m)
        out[f"{name}_seconds"] = round(time.perf_counter() - start, 1)
        print(f"demo {name}: {len(m)} removed", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=60)
    args = parser.parse_args()
    config = PrepareConfig()
    start = time.perf_counter()
    result = {"machine": provenance(), "radius": config.near_duplicate_distance,
              "pixel_threshold": config.near_duplicate_pixel_distance,
              "centre_hash_margin": CROP_HASH_MARGIN, "alignment_margins": CROP_ALIGN_MARGINS,
              "pictures_per_kind": args.pictures}
    result["planted"] = planted(args.pictures, config.near_duplicate_distance, config.near_duplicate_pixel_distance)
    result["demo_fashion_mnist"] = demo(config)
    result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - start, 1)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
