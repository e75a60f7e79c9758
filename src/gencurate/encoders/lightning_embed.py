"""Embedding through Lightning's `Trainer.predict`: one GPU, several GPUs or CPU processes.

Each rank embeds its share of the images (Lightning's unrepeated distributed sampler),
a prediction writer saves the rank's (index, feature) pairs as one shard, and rank 0
scatters the shards into one (N, D) array by index: identical to a single-process run.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from gencurate.encoders.base import Encoder, Preprocess
from gencurate.encoders.embedding import check_image_array, image_loader, normalise_rows

SHARD_INDEX = "index"
SHARD_FEATURES = "features"


def shard_file(shard_dir: str | Path, rank: int) -> Path:
    return Path(shard_dir) / f"rank{rank:05d}.npz"


class EncoderModule(L.LightningModule):
    """`predict_step`: (index (B,), preprocessed (B, 3, S, S)) -> (index (B,), unit features (B, D))."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        index, x = batch
        return index, normalise_rows(self.encoder(x))


class ImageArrayDataModule(L.LightningDataModule):
    """Predict batches over a uint8 (N, H, W, C) images.npy.

    Given a path, each process opens its own memory map (a spawned rank never receives a
    pickled copy of the images); an in-memory array is used as is.
    """

    def __init__(self, *, images: np.ndarray | str | Path, preprocess: Preprocess, batch_size: int, num_workers: int) -> None:
        super().__init__()
        self.images = images
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.num_workers = num_workers

    def predict_dataloader(self):
        from gencurate.io import read_npy

        images = self.images if isinstance(self.images, np.ndarray) else read_npy(self.images, mmap=True)
        return image_loader(images, self.preprocess, batch_size=self.batch_size, num_workers=self.num_workers)


class ShardWriter(BasePredictionWriter):
    """Collects this rank's predictions and saves them as one shard at the end of the epoch."""

    def __init__(self, shard_dir: str | Path) -> None:
        super().__init__(write_interval="batch")
        self.shard_dir = Path(shard_dir)
        self._index: list[np.ndarray] = []
        self._features: list[np.ndarray] = []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx) -> None:
        index, features = prediction
        self._index.append(index.cpu().numpy())
        self._features.append(features.cpu().numpy())

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from gencurate.io import atomic_path

        dim = pl_module.encoder.dim
        index = np.concatenate(self._index) if self._index else np.empty(0, np.int64)
        features = np.concatenate(self._features) if self._features else np.empty((0, dim), np.float32)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(shard_file(self.shard_dir, trainer.global_rank)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **{SHARD_INDEX: index, SHARD_FEATURES: features})
        self._index, self._features = [], []
        # Every shard exists before any rank returns from predict (rank 0 merges next).
        trainer.strategy.barrier("embed-shards")


def merge_shards(shard_dir: str | Path, *, world_size: int, n: int, dim: int) -> np.ndarray:
    """Shards of ranks 0..world_size-1 -> float32 (n, dim), row i = the features of image i.

    Every index must be covered; an index seen twice must carry the same features.
    """
    out = np.zeros((n, dim), dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    for rank in range(world_size):
        path = shard_file(shard_dir, rank)
        if not path.is_file():
            raise ValueError(f"embedding shard of rank {rank} is missing ({path})")
        with np.load(path) as shard:
            index, features = shard[SHARD_INDEX], shard[SHARD_FEATURES]
        if features.shape[1:] != (dim,) or len(index) != len(features):
            raise ValueError(f"embedding shard {path} has features {features.shape}, expected (*, {dim})")
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise ValueError(f"embedding shard {path} has indices outside [0, {n})")
        again = index[seen[index]]
        if len(again) and not np.allclose(out[again], features[seen[index]], atol=1e-5):
            raise ValueError(f"embedding shard {path} disagrees with another rank on images it repeats")
        out[index] = features
        seen[index] = True
    if not seen.all():
        raise ValueError(f"embedding shards cover {int(seen.sum())} of {n} images")
    return out


def embed_with_lightning(
    enc: Encoder,
    images: np.ndarray | str | Path,
    *,
    shard_dir: str | Path,
    batch_size: int = 128,
    num_workers: int = 0,
    accelerator: str = "auto",
    devices: int = 1,
    strategy: str = "auto",
    progress: bool = True,
) -> np.ndarray | None:
    """uint8 (N, H, W, C) images (an array or an images.npy path) -> float32 (N, D) unit rows.

    Runs `Trainer.predict` with the given accelerator/devices/strategy (e.g. "ddp_spawn" on
    2 CPU processes). Returns the merged array on global rank 0 and None on other ranks
    (those of a "ddp" launch, which re-run the calling program). `shard_dir` is removed.
    """
    import shutil

    from gencurate.io import read_npy

    array = images if isinstance(images, np.ndarray) else read_npy(images, mmap=True)
    check_image_array(array)
    n = len(array)
    del array
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        callbacks=[ShardWriter(shard_dir)],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        inference_mode=True,
    )
    data = ImageArrayDataModule(images=images, preprocess=enc.preprocess, batch_size=batch_size, num_workers=num_workers)
    trainer.predict(EncoderModule(enc), datamodule=data, return_predictions=False)
    if not trainer.is_global_zero:
        return None
    try:
        return merge_shards(shard_dir, world_size=trainer.world_size, n=n, dim=enc.dim)
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
