"""Lightning callbacks of DDPM training: sample grids in the training log, a step progress bar, a step reporter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L

from lightning.pytorch.callbacks import TQDMProgressBar

from gencurate.diffusion.grid import GRID_SIDE, images_to_grid
from gencurate.diffusion.sampling import generate_images

GRID_SAMPLER = "ddim"
GRID_ETA = 0.0  # deterministic DDIM: a grid depends only on the model and GRID_SEED
GRID_SAMPLER_STEPS = 25  # DDIM steps for the grids logged while training (cheap next to training)
GRID_SEED = 0  # the same noise at every logged step, so grids show the model changing, not the noise


class SampleGridLogger(L.Callback):
    """Every `every_n_steps` optimizer steps, sample an 8x8 grid with the EMA weights and log it
    as `samples/step<NNNNNNN>.png` through the logger's `experiment.log_image` (dvclive)."""

    def __init__(self, *, every_n_steps: int, sampler_steps: int = GRID_SAMPLER_STEPS) -> None:
        self.every_n_steps = every_n_steps
        self.sampler_steps = sampler_steps

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or not trainer.is_global_zero or trainer.logger is None:
            return
        experiment = trainer.logger.experiment
        if not hasattr(experiment, "log_image"):
            return
        h, w, c = pl_module.hparams["image_shape"]
        was_training = pl_module.ema_model.training
        pl_module.ema_model.eval()
        images = generate_images(
            pl_module.ema_model, pl_module.diffusion, image_shape=(h, w, c), num_samples=GRID_SIDE * GRID_SIDE,
            sampler=GRID_SAMPLER, steps=min(self.sampler_steps, pl_module.diffusion.timesteps), eta=GRID_ETA,
            batch_size=GRID_SIDE * GRID_SIDE, seed=GRID_SEED, progress=False,
        )
        pl_module.ema_model.train(was_training)
        experiment.log_image(f"samples/step{step:07d}.png", images_to_grid(images))


class StepProgressBar(TQDMProgressBar):
    """One bar over optimiser steps: a run is bounded by `max_steps`, so Lightning's epoch counter
    ("Epoch 0/-2" with `max_epochs=-1`) says nothing."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description("train steps")


class StepReporter(L.Callback):
    """Calls `report(optimizer steps done)` after every step: how a run in a worker process feeds
    the parent's progress bar (gencurate.processes)."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.report = report

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.report(trainer.global_step)
