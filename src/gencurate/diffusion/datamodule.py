"""Training data: the selected images and a step-indexed, seeded batch order.

Batch `s` is a pure function of (seed, s): the images are an endless stream of seeded
epoch permutations and batch `s` is slice [s*G, (s+1)*G) of it (G = batch size x world size;
rank r takes its r-th part). A run resumed at step k therefore sees exactly the batches
an uninterrupted run would, and every image is seen equally often.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gencurate.arrays import check_image_array
from gencurate.io import read_ids, read_npy

DATA_STREAM = 0  # first SeedSequence word: keeps the data order apart from the per-step noise stream


def epoch_permutation(seed: int, epoch: int, num_items: int) -> np.ndarray:
    """The order of epoch `epoch`: [num_items] int64."""
    return np.random.default_rng([DATA_STREAM, seed, epoch]).permutation(num_items)


def batch_indices(
    step: int,
    *,
    num_items: int,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    permutation: Callable[[int, int, int], np.ndarray] = epoch_permutation,
) -> np.ndarray:
    """Row indices of `rank`'s part of global batch `step`: [batch_size] int64.

    `permutation(seed, epoch, num_items)` gives each epoch's order (a cached one in the sampler).
    """
    global_batch = batch_size * world_size
    positions = step * global_batch + rank * batch_size + np.arange(batch_size)
    epochs = positions // num_items
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs).tolist():
        mask = epochs == epoch
        out[mask] = permutation(seed, epoch, num_items)[positions[mask] % num_items]
    return out


class StepBatchSampler(Sampler[np.ndarray]):
    """Yields index batches for steps [start_step(), total_steps).

    `start_step` is called at each `iter()`, so a resumed trainer (whose global step was
    restored from a checkpoint) continues where the interrupted run stopped. Its length
    is the whole run, which is what Lightning's loop counts batches against.
    """

    def __init__(
        self,
        *,
        num_items: int,
        batch_size: int,
        seed: int,
        total_steps: int,
        start_step: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_items < 1:
            raise ValueError("no images to train on: the selection is empty")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.total_steps, self.start_step = total_steps, start_step
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return self.total_steps

    def __iter__(self) -> Iterator[np.ndarray]:
        permutation = functools.lru_cache(maxsize=4)(epoch_permutation)  # consecutive batches share epochs
        for step in range(self.start_step(), self.total_steps):
            yield batch_indices(
                step,
                num_items=self.num_items,
                batch_size=self.batch_size,
                seed=self.seed,
                rank=self.rank,
                world_size=self.world_size,
                permutation=permutation,
            )


def load_selected_images(images_path: str | Path, selection_path: str | Path) -> np.ndarray:
    """The rows of images.npy a selection file lists: uint8 [K x H x W x C] (in memory)."""
    for path, stage in ((images_path, "prepare"), (selection_path, "select")):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: not found; run `gencurate {stage}` first")
    images = read_npy(images_path)
    ids = read_ids(selection_path)
    if ids.size == 0:
        raise ValueError(f"{selection_path}: the selection is empty")
    if ids.min() < 0 or ids.max() >= len(images):
        raise ValueError(f"{selection_path}: ids must be row indices of {images_path} (0..{len(images) - 1})")
    return np.ascontiguousarray(images[np.sort(ids)])


class ImageBatches(Dataset):
    """uint8 images [K x H x W x C] held as a [K x C x H x W] tensor; indexing by an index
    array returns a whole batch (no per-item collation)."""

    def __init__(self, images: np.ndarray) -> None:
        check_image_array(images, where="training images")
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: np.ndarray) -> torch.Tensor:
        return self.images[torch.from_numpy(np.asarray(index))]


class ImageDataModule(L.LightningDataModule):
    """The selected images as a Lightning data module. images: uint8 [K x H x W x C]."""

    def __init__(self, *, images: np.ndarray, batch_size: int, steps: int, seed: int, num_workers: int) -> None:
        super().__init__()
        self.dataset = ImageBatches(images)
        self.batch_size, self.steps, self.seed, self.num_workers = batch_size, steps, seed, num_workers

    def _global_step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        sampler = StepBatchSampler(
            num_items=len(self.dataset),
            batch_size=self.batch_size,
            seed=self.seed,
            total_steps=self.steps,
            start_step=self._global_step,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )
        # batch_size=None: the sampler's index arrays go straight to ImageBatches.__getitem__.
        return DataLoader(
            self.dataset,
            sampler=sampler,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
