"""Self-describing checkpoints: everything needed to rebuild and sample a model from the file alone.

Two kinds of file live in `paths.model_dir(method, seed)`:
- `model.ckpt` (`paths.checkpoint`): the final model, a plain dict (loadable with
  `torch.load(weights_only=True)`): format, gencurate version, step, image shape, the UNet and
  diffusion configs, the whole train config, seed, sha256 of the selection file and of the
  diffusion code, and the EMA weights.
- `last.ckpt`: Lightning's full training state for resuming, carrying the same
  fingerprint under `FINGERPRINT_KEY` so a rerun resumes only the run it belongs to.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from gencurate import __version__
from gencurate.config import TrainConfig, to_mapping
from gencurate.diffusion.gaussian import GaussianDiffusion
from gencurate.diffusion.unet import UNet, build_unet
from gencurate.io import atomic_path

FORMAT = "gencurate-ddpm"
FORMAT_VERSION = 1
FINGERPRINT_KEY = "gencurate_fingerprint"

# model.ckpt keys
KEY_FORMAT = "format"
KEY_FORMAT_VERSION = "format_version"
KEY_VERSION = "gencurate_version"
KEY_STEP = "step"
KEY_IMAGE_SHAPE = "image_shape"  # [H, W, C]
KEY_UNET = "unet"
KEY_DIFFUSION = "diffusion"
KEY_TRAIN = "train"
KEY_SEED = "seed"
KEY_SELECTION_SHA256 = "selection_sha256"
KEY_CODE_SHA256 = "diffusion_code_sha256"
KEY_EMA_STATE = "ema_state_dict"
KEY_CURVES = "validation_curves"  # fingerprint only: the curve settings of a run that logs them

# train keys that change how a run proceeds but not the weights it ends with: a change to
# them must not throw away a half-finished run.
NON_WEIGHT_KEYS = ("num_workers", "log_every_n_steps", "sample_every_n_steps", "checkpoint_every_n_steps")


def modules_sha256(directory: str | Path) -> str:
    """sha256 over the `*.py` files of `directory` (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(Path(directory).glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def diffusion_code_sha256() -> str:
    """`modules_sha256` of this package's diffusion modules.

    A code change (UNet, schedule, loss, training loop) reruns DVC's train stage, and that
    rerun must retrain rather than resume a last.ckpt whose config and data still match.
    """
    return modules_sha256(Path(__file__).parent)


def training_fingerprint(
    *, config: TrainConfig, image_shape: Sequence[int], seed: int, selection_sha256: str,
    curves: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What identifies a training run: resuming is allowed only when this matches exactly
    (config, data shape, seed, selection file, the diffusion code and, when the run logs
    validation curves, what their values depend on: `curves`)."""
    train = {k: v for k, v in to_mapping(config).items() if k not in NON_WEIGHT_KEYS}
    extra = {} if curves is None else {KEY_CURVES: dict(curves)}
    return {
        **extra,
        KEY_FORMAT: FORMAT,
        KEY_FORMAT_VERSION: FORMAT_VERSION,
        KEY_TRAIN: train,
        KEY_IMAGE_SHAPE: [int(s) for s in image_shape],
        KEY_SEED: int(seed),
        KEY_SELECTION_SHA256: selection_sha256,
        KEY_CODE_SHA256: diffusion_code_sha256(),
    }


class ResumeInfo(NamedTuple):
    fingerprint: dict[str, Any] | None
    global_step: int


def read_resume_info(path: str | Path) -> ResumeInfo:
    """The fingerprint and step stored in a Lightning checkpoint; (None, 0) when it has none or is
    unreadable (e.g. a file truncated by a kill)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file just means "do not resume from it"
        return ResumeInfo(None, 0)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get(FINGERPRINT_KEY), dict):
        return ResumeInfo(None, 0)
    return ResumeInfo(checkpoint[FINGERPRINT_KEY], int(checkpoint.get("global_step", 0)))


def model_checkpoint(
    *, ema_state_dict: Mapping[str, torch.Tensor], config: TrainConfig, fingerprint: Mapping[str, Any], step: int
) -> dict[str, Any]:
    """The model.ckpt dict: EMA UNet weights plus everything needed to rebuild and describe it."""
    return {
        KEY_FORMAT: FORMAT,
        KEY_FORMAT_VERSION: FORMAT_VERSION,
        KEY_VERSION: __version__,
        KEY_STEP: int(step),
        KEY_IMAGE_SHAPE: list(fingerprint[KEY_IMAGE_SHAPE]),
        KEY_UNET: to_mapping(config.unet),
        KEY_DIFFUSION: to_mapping(config.diffusion),
        KEY_TRAIN: to_mapping(config),
        KEY_SEED: fingerprint[KEY_SEED],
        KEY_SELECTION_SHA256: fingerprint[KEY_SELECTION_SHA256],
        KEY_CODE_SHA256: fingerprint[KEY_CODE_SHA256],
        KEY_EMA_STATE: {k: v.detach().cpu().clone() for k, v in ema_state_dict.items()},
    }


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Write atomically (a kill never leaves a truncated model.ckpt)."""
    with atomic_path(path) as tmp:
        torch.save(dict(checkpoint), tmp)


class LoadedModel(NamedTuple):
    unet: UNet  # EMA weights, eval mode
    diffusion: GaussianDiffusion
    meta: dict[str, Any]  # the checkpoint without its weights

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C)."""
        h, w, c = self.meta[KEY_IMAGE_SHAPE]
        return h, w, c


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the EMA UNet and the diffusion from a model.ckpt alone."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no model checkpoint (train the model first: gencurate train)")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get(KEY_FORMAT) != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} checkpoint")
    if checkpoint.get(KEY_FORMAT_VERSION) != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {checkpoint.get(KEY_FORMAT_VERSION)} is not {FORMAT_VERSION}")
    unet = build_unet(checkpoint[KEY_UNET], checkpoint[KEY_IMAGE_SHAPE])
    unet.load_state_dict(checkpoint[KEY_EMA_STATE])
    unet.to(map_location).eval().requires_grad_(False)
    diffusion = GaussianDiffusion(**checkpoint[KEY_DIFFUSION]).to(map_location)
    meta = {k: v for k, v in checkpoint.items() if k != KEY_EMA_STATE}
    return LoadedModel(unet, diffusion, meta)
