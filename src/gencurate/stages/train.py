"""`gencurate train [--method M --seed S]`: train a DDPM on one selection (every study item by default).

Reads `paths.images` and `paths.selection(M)`; writes `paths.checkpoint(M, S)` (plus the
resumable last.ckpt beside it) and dvclive logs under `paths.train_log_dir(M, S)`.
"""

from __future__ import annotations

import argparse

from gencurate.config import PathsConfig, TrainConfig
from gencurate.diffusion.checkpoint import save_checkpoint
from gencurate.diffusion.datamodule import load_selected_images
from gencurate.diffusion.training import train_diffusion
from gencurate.io import file_sha256
from gencurate.stages.common import stage_params, study_items


def train_item(paths: PathsConfig, config: TrainConfig, method: str, seed: int) -> None:
    selection = paths.selection(method)
    result = train_diffusion(
        images=load_selected_images(paths.images, selection),
        config=config,
        seed=seed,
        selection_sha256=file_sha256(selection),
        model_dir=paths.model_dir(method, seed),
        log_dir=paths.train_log_dir(method, seed),
    )
    if result.is_global_zero:
        save_checkpoint(paths.checkpoint(method, seed), result.checkpoint())


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    for method, seed in study_items(params, args):
        train_item(params.paths, params.train, method, seed)
