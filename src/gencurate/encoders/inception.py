"""torch-fidelity's InceptionV3, the network of the standard FID (Heusel et al. 2017, https://arxiv.org/abs/1706.08500).

torch-fidelity ports the TF graph bit-exactly, including its TF1-style bilinear resize to
299 and `(x - 128) / 128`, and it wants uint8 input: so our preprocessing only repeats
gray to RGB, and the input size is fixed at 299 (changing it would make the numbers
incomparable with published FIDs). Features are the 2048-d pool3 activations.
`weights` is a local file; null = torch-fidelity's release URL, downloaded once by torch.hub
into `$TORCH_HOME/hub/checkpoints`, the file torch-fidelity itself would use.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gencurate.encoders.base import Encoder, Preprocess
from gencurate.encoders.weights import cached_url_file, download_or_fail, require_file, torch_hub_checkpoints

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


def inception_url() -> str:
    """torch-fidelity's download URL of its FID Inception weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def resolve_inception_weights(name: str, weights: str | None, *, url: str) -> Path:
    """`weights` if given, else torch.hub's copy of `url`, downloaded once if missing."""
    import torch

    if weights is not None:
        return require_file(weights, model=name)
    found = cached_url_file(url, [torch_hub_checkpoints()])
    if found is not None:
        return found
    target = torch_hub_checkpoints() / Path(url).name

    def download() -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        # torch.hub's downloader (the one torch-fidelity calls): temp file, then rename; progress bar.
        torch.hub.download_url_to_file(url, str(target), progress=True)
        return target

    return download_or_fail(model=name, what=f"{target.name} (torch-fidelity)", url=url, download=download)


def load_inception(name: str, *, weights: str | None, input_size: int | None) -> Encoder:
    """`inception-fid`: torch-fidelity's InceptionV3 pool3 features (2048-d), fp32 everywhere."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if input_size not in (None, INPUT_SIZE):
        raise ValueError(f"{name}: the FID Inception always sees {INPUT_SIZE}x{INPUT_SIZE} input; set input_size to {INPUT_SIZE} or null")
    url = inception_url()
    path = resolve_inception_weights(name, weights, url=url)
    extractor = FeatureExtractorInceptionV3(name, [FEATURE_KEY], feature_extractor_weights_path=str(path))
    return Encoder(
        name=name,
        network=InceptionPool3(extractor),
        dim=FEATURE_DIM,
        input_size=INPUT_SIZE,
        preprocess=Preprocess(size=None, keep_pixels=True),
        weights=url if weights is None else weights,
        mixed_precision=False,
    )
