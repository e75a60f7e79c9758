"""prepare throughput: the worker pool (all cores) vs a single-process loop, side by side.

Writes 10,000 small JPEG/PNG files to a temporary folder, then times
`gencurate.data.pipeline.prepare_dataset` with `workers=0` (all usable cores) and
`workers=1` (in-process loop), alternating, best of `--repeats`. Both runs must produce
byte-identical outputs. Prints and writes benchmarks/results/prepare.json, with the machine's
load average and CPU pressure (the ratio only means something on otherwise idle cores).

    .venv/bin/python benchmarks/prepare.py [--images 10000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gencurate.config import PrepareConfig
from gencurate.data.pipeline import prepare_dataset
from gencurate.runtime import cpu_count

RESULT = Path(__file__).with_name("results") / "prepare.json"
TARGET_RATIO = 1.8


def write_images(root: Path, n: int, seed: int = 0) -> None:
    """n distinct smooth 64x48 RGB images (upsampled 8x6 noise), half JPEG, half PNG, in 10 class folders."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((64, 48), Image.Resampling.BILINEAR)
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2:
            image.save(folder / f"{i:05d}.jpg", quality=90)
        else:
            image.save(folder / f"{i:05d}.png")


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), in percent."""
    try:
        return float(Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def time_prepare(config: PrepareConfig, out: Path, workers: int) -> tuple[float, bytes]:
    start = time.perf_counter()
    result = prepare_dataset(config, images_path=out, demo_path="unused", workers=workers)
    seconds = time.perf_counter() - start
    return seconds, out.read_bytes() + result.manifest.to_csv().encode() + result.rejected.to_csv().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gencurate-bench-prepare-") as tmp:
        root = Path(tmp) / "images"
        t0 = time.perf_counter()
        write_images(root, args.images)
        print(f"wrote {args.images} files in {time.perf_counter() - t0:.1f} s")
        config = PrepareConfig(source=str(root), image_size=32, channels=3, near_duplicate_distance=0,
                               use_source_split=False, reference_fraction=0.15, seed=0, workers=0)
        times: dict[str, list[float]] = {"pool": [], "single": []}
        load = {"loadavg_1min_before": round(os.getloadavg()[0], 2), "cpu_pressure_before": cpu_pressure()}
        outputs = {}
        for _ in range(args.repeats):
            for name, workers in (("single", 1), ("pool", 0)):
                seconds, outputs[name] = time_prepare(config, Path(tmp) / f"{name}.npy", workers)
                times[name].append(seconds)
                print(f"{name:>6}: {seconds:.2f} s ({args.images / seconds:.0f} images/s)")
        load |= {"loadavg_1min_after": round(os.getloadavg()[0], 2), "cpu_pressure_after": cpu_pressure()}
    identical = outputs["pool"] == outputs["single"]
    best = {k: min(v) for k, v in times.items()}
    result = {
        "images": args.images,
        "cores": cpu_count(),
        "pool_seconds": round(best["pool"], 3),
        "single_seconds": round(best["single"], 3),
        "pool_images_per_s": round(args.images / best["pool"], 1),
        "single_images_per_s": round(args.images / best["single"], 1),
        "ratio": round(best["single"] / best["pool"], 3),
        "target_ratio": TARGET_RATIO,
        "identical_outputs": identical,
        "all_seconds": {k: [round(s, 3) for s in v] for k, v in times.items()},
        # other work on the machine: a pool cannot beat one process when the cores are already busy
        "machine_load": load,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not identical:
        raise SystemExit("pool and single-process outputs differ")


if __name__ == "__main__":
    main()
