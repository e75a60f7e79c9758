"""`gencurate train [--method M [--seed S]]`: train a DDPM per seed on one selection (every study item by default).

Reads `paths.images` and `paths.selection(M)` and, for the validation curves, the validation rows
of `paths.embedding("evaluation")`; writes `paths.checkpoint(M, S)` (plus the resumable last.ckpt
beside it), dvclive logs under `paths.train_log_dir(M, S)` and `paths.train_summary(M, S)`.
Each method trains `train.steps_by_method[M]` steps if listed, else `train.steps`. The seeds of a
method train `train.concurrent_seeds` at a time, each in its own process on its share of the cores.
"""

from __future__ import annotations

import argparse
from functools import cache, partial
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from gencurate.config import Params
from gencurate.data.schema import SPLIT, VALIDATION, check_one_row_per_manifest_row
from gencurate.diffusion.callbacks import StepReporter
from gencurate.diffusion.checkpoint import KEY_STEP, save_checkpoint
from gencurate.diffusion.curves import ValidationCurve
from gencurate.diffusion.datamodule import load_selected_images
from gencurate.diffusion.training import train_diffusion
from gencurate.io import file_sha256, read_json, read_npy, write_json
from gencurate.metrics.keys import KEY_TRAIN_STEPS
from gencurate.processes import report_progress, run_in_processes
from gencurate.stages.params_items import seeds_by_method, stage_params
from gencurate.stages.inputs import CHECK_IMAGES, check_embedding_meta, check_reference_features


class CurveInputs(NamedTuple):
    """The evaluation encoder (loaded once) as an embed function, its name, and the validation features [V x D]."""

    embed: Callable[[np.ndarray], np.ndarray]
    encoder: str
    validation: np.ndarray


def load_curve_inputs(params: Params) -> CurveInputs:
    """The validation rows of the stored evaluation embedding and the encoder that made it, checked
    the way the evaluate stage checks the reference side; samples are embedded the same way."""
    from gencurate.encoders import embed_images, load_encoder

    paths, enc_cfg = params.paths, params.encoders.evaluation
    splits = pd.read_parquet(paths.manifest, columns=[SPLIT])[SPLIT].to_numpy()
    rows = np.flatnonzero(splits == VALIDATION)
    features = read_npy(paths.embedding("evaluation"))
    check_one_row_per_manifest_row(len(features), manifest_rows=len(splits), what=str(paths.embedding("evaluation")),
                                   manifest_path=paths.manifest)
    enc = load_encoder(enc_cfg.name, weights=enc_cfg.weights, input_size=enc_cfg.input_size, device=params.evaluate.accelerator)
    check_embedding_meta(
        read_json(paths.embedding_meta("evaluation")), name=enc.name, weights={enc_cfg.weights, enc.weights},
        input_size=enc.input_size, dim=enc.dim, rows=len(splits), images_path=paths.images,
    )

    def embed(images: np.ndarray) -> np.ndarray:
        return embed_images(enc, np.asarray(images), batch_size=params.evaluate.embed_batch_size, num_workers=0,
                            progress=False, normalise=False)

    validation = np.asarray(features[rows])
    if len(rows):
        check_reference_features(validation[:CHECK_IMAGES], embed(read_npy(paths.images)[rows[:CHECK_IMAGES]]))
    return CurveInputs(embed, f"{enc.name}@{enc.input_size}", validation)


def validation_curve(params: Params, inputs: CurveInputs) -> ValidationCurve:
    train, sample = params.train, params.sample
    return ValidationCurve(
        every_n_steps=train.eval_every_n_steps, num_samples=train.eval_num_samples, sampler=sample.sampler,
        sampler_steps=sample.steps, eta=sample.eta, batch_size=sample.batch_size, seed=sample.seed,
        embed=inputs.embed, validation=inputs.validation, prc_k=params.evaluate.prc_k,
        knn_block_size=params.evaluate.knn_block_size,
        bootstrap_rounds=train.eval_bootstrap_rounds, encoder=inputs.encoder,
    )


def train_item(
    params: Params, method: str, seed: int, curve_inputs: CurveInputs | None, *, reporter: StepReporter | None = None
) -> None:
    """Train one (method, seed) run, write its model.ckpt and summary."""
    paths, config = params.paths, params.train.for_method(method)
    selection = paths.selection(method)
    result = train_diffusion(
        images=load_selected_images(paths.images, selection),
        config=config,
        seed=seed,
        selection_sha256=file_sha256(selection),
        model_dir=paths.model_dir(method, seed),
        log_dir=paths.train_log_dir(method, seed),
        curve=None if curve_inputs is None else validation_curve(params, curve_inputs),
        callbacks=() if reporter is None else (reporter,),
        progress=reporter is None,
    )
    if result.is_global_zero:
        checkpoint = result.checkpoint()
        save_checkpoint(paths.checkpoint(method, seed), checkpoint)
        write_json(paths.train_summary(method, seed), {KEY_TRAIN_STEPS: int(checkpoint[KEY_STEP])})
        print(f"train {method} seed {seed}: {checkpoint[KEY_STEP]} steps -> {paths.checkpoint(method, seed)}", flush=True)


def curve_inputs_for(params: Params) -> CurveInputs | None:
    return load_curve_inputs(params) if params.train.eval_every_n_steps else None


def train_item_in_worker(slot: int, params: Params, method: str, seed: int) -> None:
    """One run inside a `run_in_processes` worker: its own encoder for the curves, progress to the parent."""
    train_item(params, method, seed, curve_inputs_for(params), reporter=StepReporter(partial(report_progress, slot)))


def train_method(params: Params, method: str, seeds: Sequence[int], curve_inputs: Callable[[], CurveInputs | None]) -> None:
    """Train every seed of `method`: `train.concurrent_seeds` at a time in worker processes, or in
    turn in this process when that is 1 (or there is one seed)."""
    processes = min(params.train.concurrent_seeds, len(seeds))
    if processes <= 1:
        for seed in seeds:
            train_item(params, method, seed, curve_inputs())
        return
    steps = params.train.steps_for(method)
    run_in_processes(train_item_in_worker, [(params, method, s) for s in seeds], processes=processes,
                     totals=[steps] * len(seeds), desc=f"train {method} (seeds {', '.join(map(str, seeds))})")


def main(args: argparse.Namespace) -> None:
    params = stage_params(args)
    curve_inputs = cache(partial(curve_inputs_for, params))  # the evaluation encoder, loaded once per process
    for method, seeds in seeds_by_method(params, args).items():
        train_method(params, method, seeds, curve_inputs)
