"""Validation curves while training: FD, precision and recall of the EMA model's samples against the validation split.

Every `every_n_steps` optimizer steps and at the last one, the EMA UNet draws `num_samples`
images with the configured sampler (the same noise at every point, so the curve shows the model
changing, not the noise), an injected `embed` function maps them into the evaluation encoder's
space, and the project's metric functions score them against the validation features. At the
last point the FD is also bootstrapped (samples and validation rows resampled together): the
noise the convergence verdict compares the curve's final slope with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import numpy as np

from gencurate.diffusion.sampling import generate_images
from gencurate.metrics.fd import fd_features_to_metric
from gencurate.metrics.keys import KEY_FD, KEY_PRECISION, KEY_RECALL
from gencurate.metrics.prc import prc_features_to_metric

EVAL_PREFIX = "eval"  # dvclive folder plots/metrics/eval/: one TSV (step, value) per key below
FD_KEY = f"{EVAL_PREFIX}/{KEY_FD}"
PRECISION_KEY = f"{EVAL_PREFIX}/{KEY_PRECISION}"
RECALL_KEY = f"{EVAL_PREFIX}/{KEY_RECALL}"
FD_BOOTSTRAP_STD_KEY = f"{EVAL_PREFIX}/fd_bootstrap_std"  # logged at the last point only
BOOTSTRAP_STREAM = 3  # first SeedSequence word of the bootstrap draws (data 0, steps 1, sampling 2)


def curve_steps(*, every_n_steps: int, total_steps: int) -> list[int]:
    """The optimizer steps (counted after the update) that get a curve point: multiples of
    `every_n_steps` up to `total_steps`, and `total_steps` itself."""
    return sorted({*range(every_n_steps, total_steps + 1, every_n_steps), total_steps})


def bootstrap_fd_std(fake: np.ndarray, real: np.ndarray, *, rounds: int, seed: int) -> float:
    """Std of FD over `rounds` bootstrap resamples of both feature sets, fake (M, D) and real (N, D)."""
    rng = np.random.default_rng([BOOTSTRAP_STREAM, seed])
    values = [
        fd_features_to_metric(fake[rng.integers(0, len(fake), len(fake))],
                              real[rng.integers(0, len(real), len(real))])[KEY_FD]
        for _ in range(rounds)
    ]
    return float(np.std(values, ddof=1))


def features_sha256(features: np.ndarray) -> str:
    """sha256 of a feature array's shape, dtype and bytes (identifies the validation set in a fingerprint)."""
    array = np.ascontiguousarray(features)
    return hashlib.sha256(f"{array.shape}{array.dtype}".encode() + array.tobytes()).hexdigest()


class ValidationCurve(L.Callback):
    """Logs FD_KEY, PRECISION_KEY and RECALL_KEY through the trainer's dvclive logger at `curve_steps`,
    with dvclive's step = optimizer steps done; FD_BOOTSTRAP_STD_KEY at the last point.

    embed: uint8 images [N x H x W x C] -> features [N x D], in the space of `validation` [V x D].
    `sampler`, `sampler_steps`, `eta`, `batch_size`, `seed` are the `sample` section's; `prc_k` and
    `knn_block_size` the `evaluate` section's. After the last point `last_samples` / `last_features` hold what it scored.
    """

    def __init__(
        self, *, every_n_steps: int, num_samples: int, sampler: str, sampler_steps: int, eta: float,
        batch_size: int, seed: int, embed: Callable[[np.ndarray], np.ndarray], validation: np.ndarray,
        prc_k: int, knn_block_size: int, bootstrap_rounds: int, encoder: str,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if len(validation) <= prc_k:
            raise ValueError(f"the validation split holds {len(validation)} images; curves need more than "
                             f"{prc_k} (raise prepare.validation_fraction, or set train.eval_every_n_steps: 0)")
        self.every_n_steps, self.num_samples = every_n_steps, num_samples
        self.sampler, self.sampler_steps, self.eta = sampler, sampler_steps, eta
        self.batch_size, self.seed, self.embed, self.validation = batch_size, seed, embed, validation
        self.prc_k, self.bootstrap_rounds, self.encoder = prc_k, bootstrap_rounds, encoder
        self.knn_block_size = knn_block_size  # bounds the k-NN blocks' memory (left out of settings(), as batch_size is)
        self.last_samples: np.ndarray | None = None
        self.last_features: np.ndarray | None = None

    def settings(self) -> dict[str, Any]:
        """What determines the curve values besides the weights (part of the run's fingerprint)."""
        return {
            "every_n_steps": self.every_n_steps, "num_samples": self.num_samples, "sampler": str(self.sampler),
            "sampler_steps": self.sampler_steps, "eta": self.eta, "seed": self.seed, "prc_k": self.prc_k,
            "bootstrap_rounds": self.bootstrap_rounds, "encoder": self.encoder,
            "validation_sha256": features_sha256(self.validation),
        }

    def score(self, pl_module: Any) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Samples [num_samples x H x W x C] of the EMA model, their features and {fd, precision, recall}."""
        was_training = pl_module.ema_model.training
        pl_module.ema_model.eval()
        samples = generate_images(
            pl_module.ema_model, pl_module.diffusion, image_shape=tuple(pl_module.hparams["image_shape"]),
            num_samples=self.num_samples, sampler=self.sampler, steps=self.sampler_steps, eta=self.eta,
            batch_size=self.batch_size, seed=self.seed, progress=False,
        )
        pl_module.ema_model.train(was_training)
        features = self.embed(samples)
        values = {**fd_features_to_metric(features, self.validation),
                  **prc_features_to_metric(features, self.validation, k=self.prc_k, batch_size=self.knn_block_size)}
        return samples, features, values

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step, last = trainer.global_step, trainer.max_steps
        if not (step == last or step % self.every_n_steps == 0) or not trainer.is_global_zero:
            return
        samples, features, values = self.score(pl_module)
        logged: Mapping[str, float] = {FD_KEY: values[KEY_FD], PRECISION_KEY: values[KEY_PRECISION],
                                       RECALL_KEY: values[KEY_RECALL]}
        if step == last:
            self.last_samples, self.last_features = samples, features
            logged = {**logged, FD_BOOTSTRAP_STD_KEY: bootstrap_fd_std(
                features, self.validation, rounds=self.bootstrap_rounds, seed=self.seed)}
        if trainer.logger is None or not hasattr(trainer.logger.experiment, "log_metric"):
            return
        live = trainer.logger.experiment
        previous = live.step
        live.step = step  # dvclive's step column: optimizer steps done (the Lightning logger sets its own)
        for name, value in logged.items():
            live.log_metric(name, float(value))
        live.step = previous
        live.make_summary()
