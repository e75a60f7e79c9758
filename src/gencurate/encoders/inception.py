"""torch-fidelity's InceptionV3, the network of the standard FID (Heusel et al. 2017, https://arxiv.org/abs/1706.08500).

torch-fidelity ports the TF graph bit-exactly, including its TF1-style bilinear resize to
299 and `(x - 128) / 128`, and it wants uint8 input: so our preprocessing only repeats
gray to RGB, and the input size is fixed at 299 (changing it would make the numbers
incomparable with published FIDs). Features are the 2048-d pool3 activations.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gencurate.encoders.base import Encoder, Preprocess
from gencurate.encoders.weights import cached_url_file, missing_weights, require_file, torch_hub_checkpoints

INPUT_SIZE = 299
FEATURE_DIM = 2048
FEATURE_KEY = "2048"


class InceptionPool3(nn.Module):
    """Pixel-valued float (N, 3, H, W) -> (N, 2048) pool3 features of torch-fidelity's InceptionV3."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Preprocess kept whole pixel values, so this round trip to uint8 is lossless.
        (features,) = self.extractor(x.round().clamp(0, 255).to(torch.uint8))
        return features


def resolve_inception_weights(name: str, weights: str | None) -> Path:
    """`weights` if given, else torch-fidelity's file if torch.hub already downloaded it."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    if weights is not None:
        return require_file(weights, model=name)
    found = cached_url_file(URL_INCEPTION_V3, [torch_hub_checkpoints()])
    if found is None:
        raise missing_weights(name, URL_INCEPTION_V3)
    return found


def load_inception(name: str, *, weights: str | None, input_size: int | None) -> Encoder:
    """`inception-fid`: torch-fidelity's InceptionV3 pool3 features (2048-d), fp32 everywhere."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if input_size not in (None, INPUT_SIZE):
        raise ValueError(f"{name}: the FID Inception always sees {INPUT_SIZE}x{INPUT_SIZE} input; set input_size to {INPUT_SIZE} or null")
    path = resolve_inception_weights(name, weights)
    extractor = FeatureExtractorInceptionV3(name, [FEATURE_KEY], feature_extractor_weights_path=str(path))
    return Encoder(
        name=name,
        network=InceptionPool3(extractor),
        dim=FEATURE_DIM,
        input_size=INPUT_SIZE,
        preprocess=Preprocess(size=None, keep_pixels=True),
        weights=str(path) if weights is None else weights,
        mixed_precision=False,
    )
