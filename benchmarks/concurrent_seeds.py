"""Training a method's seeds at once (one process per seed) against in turn (one process, all threads).

    .venv/bin/python benchmarks/concurrent_seeds.py [--steps 400] [--seeds 2]

Side by side in one run, on the demo's `full` training images and params.yaml `train` (curves and
sample grids off, so only training is timed): the wall clock of training `--seeds` seeds for
`--steps` steps each (a) in turn in this process with every core's thread, (b) with
`gencurate.processes.run_in_processes`, the code `gencurate train` runs, one process per seed on
cores/seeds threads each. The ratio (a)/(b) is what `train.concurrent_seeds` saves per method.
Results: benchmarks/results/concurrent_seeds.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np

from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "concurrent_seeds.json"


def train_one(slot: int, steps: int, seed: int, out_dir: str) -> float:
    """Train one seed for `steps` steps; return its wall-clock seconds."""
    from gencurate.config import load_params
    from gencurate.diffusion.training import train_diffusion

    params = load_params(ROOT / "params.yaml")
    data = np.load(ROOT / params.paths.demo)
    images = data["images"][data["split"] == "train"][:, :, :, None]
    config = dataclasses.replace(params.train.for_method("full"), steps=steps, accelerator="cpu",
                                 sample_every_n_steps=10**7, eval_every_n_steps=0)
    t0 = time.perf_counter()
    train_diffusion(images=images, config=config, seed=seed, selection_sha256="bench",
                    model_dir=Path(out_dir) / f"model{seed}", log_dir=Path(out_dir) / f"log{seed}", curve=None,
                    progress=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    import torch

    from gencurate.processes import run_in_processes, threads_per_process
    from gencurate.runtime import cpu_count, quiet_lightning

    quiet_lightning()
    machine = provenance()
    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory(prefix="gencurate-bench-seeds-") as tmp:
        t0 = time.perf_counter()
        in_turn = [train_one(0, args.steps, s, f"{tmp}/turn") for s in seeds]
        in_turn_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        at_once = run_in_processes(train_one, [(args.steps, s, f"{tmp}/once") for s in seeds],
                                   processes=len(seeds), totals=[args.steps] * len(seeds), desc="at once")
        at_once_wall = time.perf_counter() - t0
    result = {
        "benchmark": "concurrent_seeds",
        "machine": machine | {"load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "cores": cpu_count(), "seeds": args.seeds, "steps_each": args.steps,
        "in_turn": {"threads": torch.get_num_threads(), "wall_seconds": round(in_turn_wall, 2),
                    "train_seconds_each": [round(t, 2) for t in in_turn]},
        "at_once": {"processes": len(seeds), "threads_each": threads_per_process(len(seeds)),
                    "wall_seconds": round(at_once_wall, 2), "train_seconds_each": [round(t, 2) for t in at_once]},
        "speedup_wall": round(in_turn_wall / at_once_wall, 3),
        "note": "at_once's wall clock includes starting the worker processes (imports); the machine's cores "
                "were shared with other jobs unless the load average is below ~0.5",
    }
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
