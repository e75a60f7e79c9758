"""One runtime helper for seeds, threads, device and precision, used by every stage."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a NumPy generator for explicit use."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def resolve_accelerator(accelerator: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'."""
    import torch

    if accelerator in ("auto", "gpu"):
        if torch.cuda.is_available():
            return "cuda"
        if accelerator == "gpu":
            raise RuntimeError("accelerator 'gpu' requested but no CUDA device is visible")
        return "cpu"
    return accelerator


def resolve_device(accelerator: str = "auto"):
    import torch

    return torch.device(resolve_accelerator(accelerator))


def resolve_precision(precision: str, accelerator: str) -> str:
    """'auto' -> 'bf16-mixed' on a GPU that supports it, else full fp32 ('32-true')."""
    if precision != "auto":
        return precision
    import torch

    if resolve_accelerator(accelerator) == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def quiet_lightning() -> None:
    """Keep Lightning's start-up banners ("GPU available…", tips) and dependency deprecation notes
    out of stage logs; its warnings about the run itself still show."""
    import logging
    import warnings

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*", category=FutureWarning)


def cpu_count() -> int:
    """Cores this process may run on: the affinity mask (a container's or taskset's share), unlike os.cpu_count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
