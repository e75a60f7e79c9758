"""CLIP ViT-B/32 image tower through open_clip (Radford et al. 2021, https://arxiv.org/abs/2103.00020).

The study selects with CLIP ViT-B/32 features. `weights` is a local file (a state_dict of
open_clip's ViT-B-32, e.g. `open_clip_model.safetensors` of timm/vit_base_patch32_clip_224.openai),
or an open_clip `pretrained` tag (null = "openai"): its file from the Hugging Face cache,
downloaded there by open_clip on first use.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from gencurate.encoders.base import Encoder, Preprocess
from gencurate.encoders.sources import CLIP_DEFAULT_TAG, OPEN_CLIP_FILES, hub_file_phrase
from gencurate.encoders.weights import (
    cached_hf_file,
    cached_url_file,
    download_or_fail,
    hf_file_url,
    is_local_file_setting,
    require_file,
)

ARCH = "ViT-B-32"
DEFAULT_TAG = CLIP_DEFAULT_TAG
NATIVE_SIZE = 224
PATCH = 32
FEATURE_DIM = 512
# OpenAI's CLIP preprocessing (open_clip.constants.OPENAI_DATASET_MEAN/STD), in pixel units.
PIXEL_MEAN = tuple(255.0 * m for m in (0.48145466, 0.4578275, 0.40821073))
PIXEL_STD = tuple(255.0 * s for s in (0.26862954, 0.26130258, 0.27577711))
# open_clip's download cache for URL-only tags.
URL_CACHE = "~/.cache/clip"
# OpenAI's checkpoints were trained with QuickGELU; a local file is taken to be those weights.
FILE_QUICK_GELU = True


class ClipImageTower(nn.Module):
    """open_clip's visual tower: (N, 3, S, S) -> (N, 512) image embeddings (before L2 normalisation)."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def clip_tag_source(name: str, tag: str) -> tuple[dict, str]:
    """(open_clip's pretrained cfg, a one-phrase description of its file) for an open_clip tag."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(ARCH, tag)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(ARCH))
        raise ValueError(f"{name}: weights {tag!r} is neither a file nor an open_clip tag ({tags})")
    if cfg.get("hf_hub"):
        repo_id, filename = os.path.split(cfg["hf_hub"])
        return cfg, f"{hub_file_phrase(repo_id, filename or OPEN_CLIP_FILES[0])} (open_clip {ARCH} {tag!r})"
    return cfg, f"{os.path.basename(cfg['url'])} (open_clip {ARCH} {tag!r})"


def resolve_clip_weights(name: str, weights: str | None) -> tuple[str, bool]:
    """(local file, quick_gelu) for a file or a tag; a tag's file is downloaded once if not cached."""
    import open_clip

    if is_local_file_setting(weights):
        return str(require_file(weights, model=name)), FILE_QUICK_GELU
    tag = DEFAULT_TAG if weights is None else weights
    cfg, what = clip_tag_source(name, tag)
    found = None
    if cfg.get("hf_hub"):
        # open_clip's convention: "org/repo/file" names a file, "org/repo/" the default files.
        repo_id, filename = os.path.split(cfg["hf_hub"])
        names = [filename] if filename else list(OPEN_CLIP_FILES)
        found = cached_hf_file(repo_id, names)
        url = hf_file_url(repo_id, names[0])
    else:
        url = cfg["url"]
    if found is None and cfg.get("url"):
        found = cached_url_file(cfg["url"], [URL_CACHE])
    if found is None:
        # open_clip's own download (Hugging Face cache, progress bar), preferring the hub as open_clip does.
        found = download_or_fail(model=name, what=what, url=url, download=lambda: open_clip.download_pretrained(cfg))
    return str(found), bool(cfg.get("quick_gelu", False))


def load_clip(name: str, *, weights: str | None, input_size: int | None) -> Encoder:
    """`clip-vit-b-32`: open_clip ViT-B-32 image features (512-d)."""
    import open_clip

    size = NATIVE_SIZE if input_size is None else input_size
    if size % PATCH:
        raise ValueError(f"{name}: input_size must be a multiple of the patch size {PATCH}, got {size}")
    path, quick_gelu = resolve_clip_weights(name, weights)
    # A file path as `pretrained` loads strictly and resizes the position embedding to `size`.
    model = open_clip.create_model(
        ARCH, pretrained=path, force_quick_gelu=quick_gelu, force_image_size=size, device="cpu",
        require_pretrained=True,
    )
    return Encoder(
        name=name,
        network=ClipImageTower(model.visual),
        dim=FEATURE_DIM,
        input_size=size,
        preprocess=Preprocess(size=size, mean=PIXEL_MEAN, std=PIXEL_STD, interpolation="bicubic"),
        weights=DEFAULT_TAG if weights is None else weights,
    )
