"""`gencurate sample [--method M --seed S]`: draw samples from a trained checkpoint (every study item by default).

Reads only `paths.checkpoint(M, S)`; writes `paths.samples_file(M, S)` (uint8 N,H,W,C) and
`paths.grid_file(M, S)` (an 8x8 PNG grid).
"""

from __future__ import annotations

import argparse

from gencurate.config import PathsConfig, SampleConfig
from gencurate.diffusion.grid import images_to_grid
from gencurate.diffusion.sampling import sample_from_checkpoint
from gencurate.io import atomic_path, write_npy
from gencurate.stages.common import stage_params, study_items


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


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    for method, seed in study_items(params, args):
        sample_item(params.paths, params.sample, method, seed)
