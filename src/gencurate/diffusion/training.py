"""One DDPM training run with Lightning: resumable, logged through dvclive, ending in a model.ckpt dict.

`train_diffusion` is what the `train` stage calls and what tests call without the CLI.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import lightning as L
import numpy as np
from dvclive.lightning import DVCLiveLogger
from dvclive.plots import Metric
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from gencurate.arrays import check_image_array
from gencurate.config import TrainConfig
from gencurate.diffusion.callbacks import SampleGridLogger, StepProgressBar
from gencurate.diffusion.curves import EVAL_PREFIX, ValidationCurve
from gencurate.diffusion.checkpoint import model_checkpoint, read_resume_info, training_fingerprint
from gencurate.diffusion.datamodule import ImageDataModule
from gencurate.diffusion.module import DiffusionModule
from gencurate.io import atomic_path
from gencurate.runtime import resolve_precision, seed_everything

log = logging.getLogger(__name__)


def last_checkpoint_path(model_dir: str | Path) -> Path:
    """Where Lightning's ModelCheckpoint(save_last=True) keeps the resumable state: <model_dir>/last.ckpt."""
    return Path(model_dir) / f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}{ModelCheckpoint.FILE_EXTENSION}"


def resumable_checkpoint(model_dir: str | Path, fingerprint: dict[str, Any]) -> tuple[Path | None, int]:
    """(`last.ckpt`, its step) if it belongs to this very run (same config, data, seed), else (None, 0).

    A stale or unreadable last.ckpt is deleted so Lightning starts fresh in its place.
    """
    last = last_checkpoint_path(model_dir)
    if not last.exists():
        return None, 0
    info = read_resume_info(last)
    if info.fingerprint == fingerprint:
        return last, info.global_step
    log.warning("%s belongs to another run (config, selection, seed or code changed); starting fresh", last)
    last.unlink(missing_ok=True)  # under DDP every rank checks; one of them may have removed it
    return None, 0


def truncate_metric_logs(log_dir: str | Path, step: int) -> None:
    """Drop the dvclive metric rows an interrupted run wrote for steps the resumed run replays, so
    the curves do not hold them twice: Lightning's rows at or after `step` (its step = the batch
    index), validation-curve rows after `step` (their step = optimizer steps done, and the point at
    `step` was logged before the checkpoint the run resumes from)."""
    metrics = Path(log_dir) / "plots" / Metric.subfolder
    for tsv in metrics.rglob("*.tsv"):
        last_kept = step if tsv.relative_to(metrics).parts[0] == EVAL_PREFIX else step - 1
        header, *rows = tsv.read_text().splitlines()
        column = header.split("\t").index("step")
        kept = [r for r in rows if int(r.split("\t")[column]) <= last_kept]
        if len(kept) < len(rows):
            with atomic_path(tsv) as tmp:
                tmp.write_text("\n".join([header, *kept]) + "\n")


class TrainedModel(NamedTuple):
    module: DiffusionModule
    is_global_zero: bool  # only this process writes outputs
    resumed_from: Path | None

    def checkpoint(self) -> dict[str, Any]:
        """The model.ckpt dict (EMA weights + self-description)."""
        return model_checkpoint(
            ema_state_dict=self.module.ema_model.state_dict(),
            config=self.module.config,
            fingerprint=self.module.fingerprint,
            step=self.module.ema_steps,
        )


def train_diffusion(
    *,
    images: np.ndarray,
    config: TrainConfig,
    seed: int,
    selection_sha256: str,
    model_dir: str | Path,
    log_dir: str | Path,
    curve: ValidationCurve | None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> TrainedModel:
    """Train a DDPM on uint8 images [K x H x W x C]; resume from `model_dir`/last.ckpt when it is this run's.

    Writes `last.ckpt` into `model_dir` every `config.checkpoint_every_n_steps` steps and dvclive
    logs (loss, lr, sample grids and, with `curve`, validation curves) into `log_dir`. The caller
    writes model.ckpt from the result.
    """
    check_image_array(images, where="training images")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"training images must be square, got {images.shape[1]}x{images.shape[2]}")
    image_shape = tuple(int(s) for s in images.shape[1:])
    fingerprint = training_fingerprint(config=config, image_shape=image_shape, seed=seed, selection_sha256=selection_sha256,
                                       curves=None if curve is None else curve.settings())
    resume_from, resume_step = resumable_checkpoint(model_dir, fingerprint)
    if resume_from is not None:
        truncate_metric_logs(log_dir, resume_step)

    seed_everything(seed)  # the initial weights
    module = DiffusionModule(config=config, image_shape=image_shape, seed=seed, fingerprint=fingerprint)
    data = ImageDataModule(
        images=images, batch_size=config.batch_size, steps=config.steps, seed=seed, num_workers=config.num_workers
    )
    logger = DVCLiveLogger(
        dir=str(log_dir),
        resume=resume_from is not None,  # keep the curves of the interrupted part
        report=None,
        save_dvc_exp=False,  # the pipeline, not dvclive, records experiments
        dvcyaml=False,  # never touch the repository's dvc.yaml
    )
    resume_state = ModelCheckpoint(
        dirpath=model_dir,
        save_top_k=0,
        save_last=True,
        every_n_train_steps=config.checkpoint_every_n_steps,
        save_on_train_epoch_end=False,
        enable_version_counter=False,
    )
    trainer = L.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=resolve_precision(config.precision, config.accelerator),
        max_steps=config.steps,
        max_epochs=-1,
        gradient_clip_val=config.grad_clip or None,
        log_every_n_steps=config.log_every_n_steps,
        logger=logger,
        # The curve before the checkpoint callback: a resume point's curve value is already logged.
        callbacks=[resume_state, SampleGridLogger(every_n_steps=config.sample_every_n_steps),
                   *([] if curve is None else [curve]), *callbacks, *([StepProgressBar()] if progress else [])],
        default_root_dir=str(model_dir),
        use_distributed_sampler=False,  # the batch sampler splits each global batch by rank itself
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_progress_bar=progress,
    )
    with warnings.catch_warnings():
        # Lightning cannot see that our batch order is indexed by the restored global step
        # (datamodule.py), so it warns that a mid-epoch resume may change the data order.
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
        trainer.fit(module, datamodule=data, ckpt_path=resume_from)
    return TrainedModel(module, trainer.is_global_zero, resume_from)
