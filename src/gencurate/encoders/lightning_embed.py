"""Embedding through Lightning's `Trainer.predict`: one GPU, several GPUs or CPU processes.

Each rank embeds its share of the images (Lightning's unrepeated distributed sampler), and a
prediction writer appends every batch's (index, feature) rows to the rank's two raw shard
files; rank 0 then scatters the shards chunk by chunk into the (N, D) .npy, by index:
identical to a single-process run. Images are read and features written with plain file IO
(`NpyRows`, no memory maps), and nothing holds more than a batch (writer) or a chunk (merge)
of features, so peak memory, resident file pages included, does not grow with N.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from gencurate.arrays import check_image_array
from gencurate.encoders.base import Encoder, Preprocess
from gencurate.encoders.embedding import finite_rows, image_loader
from gencurate.npyrows import NpyRows

SHARD_INDEX = "index"        # int64 (M,) image rows, raw little-endian
SHARD_FEATURES = "features"  # float32 (M, D) features, raw C order
INDEX_DTYPE, FEATURE_DTYPE = np.dtype("<i8"), np.dtype("<f4")
MERGE_BYTES = 64 * 2**20     # features read per merge chunk (bounds the merge's memory)


def shard_file(shard_dir: str | Path, rank: int, part: str) -> Path:
    """The rank's `part` (SHARD_INDEX or SHARD_FEATURES) file."""
    return Path(shard_dir) / f"rank{rank:05d}.{part}"


def write_shard(shard_dir: str | Path, rank: int, index: np.ndarray, features: np.ndarray) -> None:
    """Write a whole shard at once (the writer appends the same bytes batch by batch)."""
    Path(shard_dir).mkdir(parents=True, exist_ok=True)
    shard_file(shard_dir, rank, SHARD_INDEX).write_bytes(np.ascontiguousarray(index, INDEX_DTYPE).tobytes())
    shard_file(shard_dir, rank, SHARD_FEATURES).write_bytes(np.ascontiguousarray(features, FEATURE_DTYPE).tobytes())


class EncoderModule(L.LightningModule):
    """`predict_step`: (index (B,), preprocessed (B, 3, S, S)) -> (index (B,), features (B, D), unit rows if `normalise`)."""

    def __init__(self, encoder: Encoder, *, normalise: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.normalise = normalise

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        index, x = batch
        return index, finite_rows(self.encoder(x), normalise=self.normalise)


class ImageArrayDataModule(L.LightningDataModule):
    """Predict batches over a uint8 (N, H, W, C) images.npy.

    Given a path, each process reads rows from the file itself (`NpyRows`: a spawned rank
    never receives a pickled copy of the images); an in-memory array is used as is.
    """

    def __init__(self, *, images: np.ndarray | str | Path, preprocess: Preprocess, batch_size: int, num_workers: int) -> None:
        super().__init__()
        self.images = images
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.num_workers = num_workers

    def predict_dataloader(self):
        images = self.images if isinstance(self.images, np.ndarray) else NpyRows(self.images)
        return image_loader(images, self.preprocess, batch_size=self.batch_size, num_workers=self.num_workers)


class ShardWriter(BasePredictionWriter):
    """Appends this rank's predictions, batch by batch, to its two shard files."""

    def __init__(self, shard_dir: str | Path) -> None:
        super().__init__(write_interval="batch")
        self.shard_dir = Path(shard_dir)
        self._files: dict[str, BinaryIO] = {}

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self._files = {part: open(shard_file(self.shard_dir, trainer.global_rank, part), "wb")
                       for part in (SHARD_INDEX, SHARD_FEATURES)}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx) -> None:
        index, features = prediction
        self._files[SHARD_INDEX].write(index.cpu().numpy().astype(INDEX_DTYPE, copy=False).tobytes())
        self._files[SHARD_FEATURES].write(np.ascontiguousarray(features.cpu().numpy(), FEATURE_DTYPE).tobytes())

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        # Every shard is complete before any rank returns from predict (rank 0 merges next).
        trainer.strategy.barrier("embed-shards")


def _shard_rows(shard_dir: str | Path, rank: int, dim: int) -> int:
    """Rows in the rank's shard, after checking its two files agree."""
    paths = [shard_file(shard_dir, rank, part) for part in (SHARD_INDEX, SHARD_FEATURES)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"embedding shard of rank {rank} is missing ({missing[0]})")
    sizes = [p.stat().st_size for p in paths]
    m = sizes[0] // INDEX_DTYPE.itemsize
    if sizes[0] % INDEX_DTYPE.itemsize or sizes[1] != m * dim * FEATURE_DTYPE.itemsize:
        raise ValueError(f"embedding shard of rank {rank} ({paths[1]}) holds {sizes[1]} bytes of features "
                         f"for {m} indices, expected (*, {dim}) float32 rows")
    return m


def _read_shard(shard_dir: str | Path, rank: int, dim: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows [start, start + count) of the rank's shard: index (M,) int64, features (M, dim) float32."""
    index = np.fromfile(shard_file(shard_dir, rank, SHARD_INDEX), dtype=INDEX_DTYPE, count=count,
                        offset=start * INDEX_DTYPE.itemsize)
    features = np.fromfile(shard_file(shard_dir, rank, SHARD_FEATURES), dtype=FEATURE_DTYPE, count=len(index) * dim,
                           offset=start * dim * FEATURE_DTYPE.itemsize)
    return index, features.reshape(len(index), dim)


def merge_shards(shard_dir: str | Path, out_path: str | Path, *, world_size: int, n: int, dim: int) -> np.ndarray:
    """Shards of ranks 0..world_size-1 -> `out_path`, a float32 (n, dim) .npy, row i = image i.

    Written atomically, chunk by chunk; returns it memory-mapped read-only (no page read yet).
    Every index must be covered; an index seen twice must carry the same features.
    """
    from gencurate.io import atomic_path

    seen = np.zeros(n, dtype=bool)
    step = max(1, MERGE_BYTES // (FEATURE_DTYPE.itemsize * max(dim, 1)))
    with atomic_path(out_path) as tmp:
        out = NpyRows.create(tmp, (n, dim), np.float32)
        for rank in range(world_size):
            for a in range(0, _shard_rows(shard_dir, rank, dim), step):
                index, features = _read_shard(shard_dir, rank, dim, a, step)
                if index.min() < 0 or index.max() >= n:
                    raise ValueError(f"embedding shard of rank {rank} has indices outside [0, {n})")
                again = seen[index]
                if again.any() and not np.allclose(out.take(index[again]), features[again], atol=1e-5):
                    raise ValueError(f"embedding shard of rank {rank} disagrees with another rank on images it repeats")
                order = np.argsort(index, kind="stable")  # runs of consecutive rows: few large writes
                out.put(index[order], features[order])
                seen[index] = True
        if not seen.all():
            raise ValueError(f"embedding shards cover {int(seen.sum())} of {n} images")
        out.flush()
        out.close()
    return np.load(out_path, mmap_mode="r")


def embed_with_lightning(
    enc: Encoder,
    images: np.ndarray | str | Path,
    *,
    out_path: str | Path,
    shard_dir: str | Path,
    batch_size: int,
    num_workers: int,
    accelerator: str,
    devices: int,
    num_nodes: int,
    strategy: str,
    progress: bool = True,
    normalise: bool = True,
) -> np.ndarray | None:
    """uint8 (N, H, W, C) images (an array or an images.npy path) -> `out_path`, float32 (N, D) features
    (unit rows if `normalise`, else the raw pooled features).

    Runs `Trainer.predict` with the given accelerator/devices/num_nodes/strategy (e.g.
    "ddp_spawn" on 2 CPU processes). Every rank writes its shard into `shard_dir` and global
    rank 0 reads them all, so with several nodes `shard_dir` must be on a shared filesystem.
    Returns the written array (memory-mapped, read-only) on global rank 0 and None on other
    ranks (those of a "ddp" launch, which re-run the calling program). `shard_dir` is removed.
    """
    import shutil

    array = images if isinstance(images, np.ndarray) else NpyRows(images)
    check_image_array(array, where=str(images) if not isinstance(images, np.ndarray) else "encoder input")
    n = len(array)
    del array
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        callbacks=[ShardWriter(shard_dir)],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        inference_mode=True,
    )
    data = ImageArrayDataModule(images=images, preprocess=enc.preprocess, batch_size=batch_size, num_workers=num_workers)
    trainer.predict(EncoderModule(enc, normalise=normalise), datamodule=data, return_predictions=False)
    if not trainer.is_global_zero:
        return None
    try:
        return merge_shards(shard_dir, out_path, world_size=trainer.world_size, n=n, dim=enc.dim)
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
