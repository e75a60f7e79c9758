"""DINOv2 ViT-S/14 and ViT-L/14 through timm (Oquab et al. 2023, https://arxiv.org/abs/2304.07193).

The study evaluates with DINOv2 ViT-L/14 features, which Stein et al. 2023
(https://arxiv.org/abs/2306.04675) found to rank generators closer to human judgement
than Inception. Features are the final-norm CLS token. timm's default input is 518; we
build the network at `input_size` (224 by default) and timm resamples the position
embedding of the checkpoint to it. `weights` is a local checkpoint in timm's or Meta's
original format (e.g. dinov2_vits14_pretrain.pth); without it, only a copy already in
the Hugging Face or torch hub cache is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gencurate.encoders.base import Encoder, PooledTimm, Preprocess
from gencurate.encoders.weights import (
    cached_hf_file,
    cached_url_file,
    missing_weights,
    require_file,
    torch_hub_checkpoints,
)

DEFAULT_SIZE = 224
PATCH = 14
# ImageNet statistics (timm's pretrained_cfg for the lvd142m weights), in pixel units.
PIXEL_MEAN = tuple(255.0 * m for m in (0.485, 0.456, 0.406))
PIXEL_STD = tuple(255.0 * s for s in (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class DinoSpec:
    timm_name: str
    dim: int


SPECS = {
    "dinov2-vit-s-14": DinoSpec("vit_small_patch14_dinov2", 384),
    "dinov2-vit-l-14": DinoSpec("vit_large_patch14_dinov2", 1024),
}


def resolve_dinov2_weights(name: str, weights: str | None) -> Path:
    """The local checkpoint: `weights` if given, else a cached copy of timm's default; no network."""
    import timm

    if weights is not None:
        return require_file(weights, model=name)
    cfg = timm.models.get_pretrained_cfg(SPECS[name].timm_name)
    found = None
    if cfg.hf_hub_id:
        found = cached_hf_file(cfg.hf_hub_id, ["model.safetensors", "pytorch_model.bin"])
    if found is None and cfg.url:
        found = cached_url_file(cfg.url, [torch_hub_checkpoints()])
    if found is None:
        raise missing_weights(name, f"hf-hub:{cfg.hf_hub_id} or {cfg.url}")
    return found


def load_dinov2(name: str, *, weights: str | None, input_size: int | None) -> Encoder:
    """`dinov2-vit-{s,l}-14`: CLS-token features (384-d / 1024-d)."""
    import timm

    spec = SPECS[name]
    size = DEFAULT_SIZE if input_size is None else input_size
    if size % PATCH:
        raise ValueError(f"{name}: input_size must be a multiple of the patch size {PATCH}, got {size}")
    path = resolve_dinov2_weights(name, weights)
    # pretrained=True with a file overlay: timm loads strictly from that file only (no hub),
    # converting Meta's format and resampling the position embedding to `size`.
    model = timm.create_model(
        spec.timm_name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), img_size=size, num_classes=0,
    )
    return Encoder(
        name=name,
        network=PooledTimm(model),
        dim=spec.dim,
        input_size=size,
        preprocess=Preprocess(size=size, mean=PIXEL_MEAN, std=PIXEL_STD, interpolation="bicubic"),
        weights=str(path) if weights is None else weights,
    )
