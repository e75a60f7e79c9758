"""Images -> embeddings (L2-normalised rows or raw pooled features), batch by batch from a (memory-mapped) uint8 array.

A DataLoader reads and preprocesses the next batches in worker processes while the main
process runs the forward pass, and only `batch_size * prefetch` images are in memory at
once, so an images.npy larger than RAM embeds fine.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler
from tqdm.auto import tqdm

from gencurate.arrays import check_image_array
from gencurate.encoders.base import Encoder, Preprocess
from gencurate.npyrows import NpyRows


class EncoderInputDataset(Dataset):
    """Rows of a uint8 (N, H, W, C) array or `NpyRows` file, batched for an encoder's `PreprocessCollate`.

    A DataLoader fetches a whole batch in one `__getitems__` call, which returns
    (index (B,) int64, images (B, H, W, C) uint8) for `PreprocessCollate`.
    """

    def __init__(self, images: np.ndarray | NpyRows) -> None:
        self.images = check_image_array(images, where="encoder input")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.asarray(self.images[index])

    def __getitems__(self, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        index = np.asarray(indices, dtype=np.int64)
        if len(index) and np.all(np.diff(index) == 1):
            # Contiguous rows: one slice (one read) instead of a gather.
            batch = np.array(self.images[index[0]: index[-1] + 1])
        else:
            batch = np.asarray(self.images[index])
        return index, batch


class PreprocessCollate:
    """(index, uint8 (B, H, W, C)) -> (index (B,) int64 tensor, float (B, 3, S, S) network input).

    Picklable (holds only the `Preprocess`, not the network), so it runs in DataLoader workers.
    """

    def __init__(self, preprocess: Preprocess) -> None:
        self.preprocess = preprocess

    def __call__(self, item: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        index, batch = item
        x = torch.from_numpy(batch).permute(0, 3, 1, 2)
        return torch.from_numpy(index), self.preprocess(x)


def image_loader(
    images: np.ndarray,
    preprocess: Preprocess,
    *,
    batch_size: int,
    num_workers: int,
    sampler: Sampler | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of (index, preprocessed batch) over `images` in order (or `sampler`'s order)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    dataset = EncoderInputDataset(images)
    sampler = SequentialSampler(dataset) if sampler is None else sampler
    return DataLoader(
        dataset,
        # Batches of indices go to `__getitems__` in one call; the collate preprocesses them.
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=PreprocessCollate(preprocess),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
    )


def normalise_rows(features: torch.Tensor) -> torch.Tensor:
    """float (N, D) -> float (N, D) with unit L2 rows; non-finite features are an error."""
    if not torch.isfinite(features).all():
        raise ValueError("the encoder produced non-finite features (NaN or inf)")
    return F.normalize(features.float(), dim=1)


def finite_rows(features: torch.Tensor, *, normalise: bool) -> torch.Tensor:
    """float (N, D) -> float32 (N, D): unit L2 rows if `normalise`, else the raw features; non-finite is an error."""
    if normalise:
        return normalise_rows(features)
    if not torch.isfinite(features).all():
        raise ValueError("the encoder produced non-finite features (NaN or inf)")
    return features.float()


def embed_images(
    enc: Encoder, images: np.ndarray, *, batch_size: int, num_workers: int, progress: bool = True,
    normalise: bool = True,
) -> np.ndarray:
    """uint8 (N, H, W, C), C in {1, 3} (may be a np.memmap) -> float32 (N, D) features.

    normalise=True gives L2-normalised rows (selection's cosine geometry), False the encoder's
    raw pooled features (what FD, KID and precision/recall are defined on).
    Row i embeds images[i]; the result does not depend on batch_size or num_workers.
    """
    check_image_array(images, where="encoder input")
    out = np.empty((len(images), enc.dim), dtype=np.float32)
    loader = image_loader(
        images, enc.preprocess, batch_size=batch_size, num_workers=num_workers,
        pin_memory=enc.device.type == "cuda",
    )
    with tqdm(total=len(images), desc=f"embed {enc.name}", unit="img", disable=not progress) as bar:
        for index, x in loader:
            out[index.numpy()] = finite_rows(enc(x), normalise=normalise).cpu().numpy()
            bar.update(len(index))
    return out

