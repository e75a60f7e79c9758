"""`gencurate sample [--method M [--seed S]]`: draw samples from trained checkpoints (every study item by default).

Reads only `paths.checkpoint(M, S)`; writes `paths.samples_file(M, S)` (uint8 N,H,W,C) and
`paths.grid_file(M, S)` (an 8x8 PNG grid). The seeds of a method sample `sample.concurrent_seeds`
at a time, each in its own process on its share of the cores.
"""

from __future__ import annotations

import argparse

from gencurate.config import PathsConfig, SampleConfig
from gencurate.diffusion.grid import images_to_grid
from gencurate.diffusion.sampling import sample_from_checkpoint
from gencurate.io import atomic_path, write_npy
from gencurate.processes import report_progress, run_in_processes
from gencurate.stages.params_items import seeds_by_method, stage_params


def sample_item(paths: PathsConfig, config: SampleConfig, method: str, seed: int) -> None:
    images = sample_from_checkpoint(
        paths.checkpoint(method, seed),
        num_samples=config.num_samples,
        sampler=config.sampler,
        steps=config.steps,
        eta=config.eta,
        batch_size=config.batch_size,
        # Same noise for every method of one training seed (common random numbers make the
        # methods' comparison less noisy); different noise across training seeds.
        seed=config.seed + seed,
        device=config.accelerator,
    )
    write_npy(paths.samples_file(method, seed), images)
    with atomic_path(paths.grid_file(method, seed)) as tmp:
        images_to_grid(images).save(tmp, format="PNG")
    print(f"sample {method} seed {seed}: {len(images)} images -> {paths.samples_file(method, seed)}", flush=True)


def sample_item_in_worker(slot: int, paths: PathsConfig, config: SampleConfig, method: str, seed: int) -> None:
    sample_item(paths, config, method, seed)
    report_progress(slot, 1)


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    for method, seeds in seeds_by_method(params, args).items():
        processes = min(params.sample.concurrent_seeds, len(seeds))
        if processes <= 1:
            for seed in seeds:
                sample_item(params.paths, params.sample, method, seed)
            continue
        run_in_processes(sample_item_in_worker, [(params.paths, params.sample, method, s) for s in seeds],
                         processes=processes, totals=[1] * len(seeds), desc=f"sample {method} (runs done)")
