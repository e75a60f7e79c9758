"""DINOv2 ViT-S/14 and ViT-L/14 through timm (Oquab et al. 2023, https://arxiv.org/abs/2304.07193).

The study evaluates with DINOv2 ViT-L/14 features, which Stein et al. 2023
(https://arxiv.org/abs/2306.04675) found to rank generators closer to human judgement
than Inception. Features are the final-norm CLS token. timm's default input is 518; we
build the network at `input_size` (224 by default) and timm resamples the position
embedding of the checkpoint to it. `weights` is a local checkpoint in timm's or Meta's
original format (e.g. dinov2_vits14_pretrain.pth); null = timm's hub weights
(`timm/vit_*_patch14_dinov2.lvd142m`, model.safetensors) from the Hugging Face cache,
downloaded there by `timm.create_model(pretrained=True)` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from gencurate.encoders.base import Encoder, PooledTimm, Preprocess
from gencurate.encoders.sources import HUB_FILES, TIMM_FILE, hub_file_phrase
from gencurate.encoders.weights import cached_hf_file, download_or_fail, hf_file_url, require_file

DEFAULT_SIZE = 224
PATCH = 14
# ImageNet statistics (timm's pretrained_cfg for the lvd142m weights), in pixel units.
PIXEL_MEAN = tuple(255.0 * m for m in (0.485, 0.456, 0.406))
PIXEL_STD = tuple(255.0 * s for s in (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class DinoSpec:
    timm_name: str      # architecture.pretrained tag (its hub repo: sources.HUB_FILES)
    dim: int


SPECS = {
    "dinov2-vit-s-14": DinoSpec("vit_small_patch14_dinov2.lvd142m", 384),
    "dinov2-vit-l-14": DinoSpec("vit_large_patch14_dinov2.lvd142m", 1024),
}


def hub_repo(name: str) -> str:
    """timm's Hugging Face repo of `name`'s pretrained weights."""
    return HUB_FILES[(name, None)][0]


def hub_source(name: str) -> str:
    """The file `weights: null` stands for, as a one-phrase description."""
    return hub_file_phrase(hub_repo(name), TIMM_FILE)


def load_dinov2(name: str, *, weights: str | None, input_size: int | None) -> Encoder:
    """`dinov2-vit-{s,l}-14`: CLS-token features (384-d / 1024-d)."""
    import timm

    spec = SPECS[name]
    size = DEFAULT_SIZE if input_size is None else input_size
    if size % PATCH:
        raise ValueError(f"{name}: input_size must be a multiple of the patch size {PATCH}, got {size}")

    def create(**source) -> nn.Module:
        # timm converts Meta's format and resamples the position embedding to `size`.
        return timm.create_model(spec.timm_name, pretrained=True, img_size=size, num_classes=0, **source)

    path = require_file(weights, model=name) if weights is not None else cached_hf_file(hub_repo(name), [TIMM_FILE])
    if path is not None:
        # A file overlay: timm loads strictly from that file, never from the hub.
        model = create(pretrained_cfg_overlay=dict(file=str(path)))
    else:
        model = download_or_fail(model=name, what=hub_source(name), url=hf_file_url(hub_repo(name), TIMM_FILE), download=create)
    return Encoder(
        name=name,
        network=PooledTimm(model),
        dim=spec.dim,
        input_size=size,
        preprocess=Preprocess(size=size, mean=PIXEL_MEAN, std=PIXEL_STD, interpolation="bicubic"),
        weights=f"hf-hub:{hub_repo(name)}" if weights is None else weights,
    )
