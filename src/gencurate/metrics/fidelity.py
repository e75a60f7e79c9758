"""torch-fidelity on image arrays: our encoders as registered feature extractors, and Inception FID.

`register_encoder(enc)` makes a gencurate encoder usable as `feature_extractor=` in
`torch_fidelity.calculate_metrics`; `fidelity_metrics(...)` runs it (FID, KID, precision/recall)
on two uint8 image arrays and returns our result keys. It is the reference the feature-array
functions of this package are checked against (tests/test_metrics_fidelity.py), and the path
to the classic Inception FID and Inception Score when torch-fidelity's Inception weights are on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from gencurate.arrays import check_image_array
from gencurate.metrics.keys import (
    KEY_FD, KEY_FD_INCEPTION, KEY_INCEPTION_SCORE, KEY_INCEPTION_SCORE_STD, KEY_KID_MEAN, KEY_KID_STD, KEY_PRECISION,
    KEY_RECALL,
)

FEATURES = "features"                   # the one feature layer our extractors provide
EXTRACTOR_PREFIX = "gencurate-"
INCEPTION = "inception-v3-compat"       # torch-fidelity's TF-compatible Inception (the FID network)
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"

# torch-fidelity key -> ours
_KEYS = {
    torch_fidelity.KEY_METRIC_FID: KEY_FD,
    torch_fidelity.KEY_METRIC_KID_MEAN: KEY_KID_MEAN,
    torch_fidelity.KEY_METRIC_KID_STD: KEY_KID_STD,
    torch_fidelity.KEY_METRIC_PRECISION: KEY_PRECISION,
    torch_fidelity.KEY_METRIC_RECALL: KEY_RECALL,
}

# Extractor name -> loaded encoder. torch-fidelity instantiates extractors from a class, so the
# class looks its encoder up here; the encoder stays outside the nn.Module tree, so
# torch-fidelity's `.cuda()` on the extractor never moves (or re-types) our encoder behind its back.
_ENCODERS: dict[str, Any] = {}


class EncoderFeatureExtractor(FeatureExtractorBase):
    """uint8 (N, C, H, W) images -> ((N, D) float32 raw pooled features,), as `embed_images(normalise=False)` makes them."""

    def __init__(self, name: str, features_list, **kwargs):
        super().__init__(name, features_list)
        if name not in _ENCODERS:
            raise ValueError(f"feature extractor {name!r} has no encoder; call register_encoder(enc) first")

    @staticmethod
    def get_provided_features_list():
        return (FEATURES,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return FEATURES

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        raise NotImplementedError("gencurate encoders are not compiled")

    def forward(self, x: torch.Tensor):
        return (_ENCODERS[self.name].features(x).float(),)


def extractor_name(enc) -> str:
    """torch-fidelity name of an encoder, e.g. 'gencurate-efficientnet-lite2-96'."""
    return f"{EXTRACTOR_PREFIX}{enc.name}-{enc.input_size}"


def register_encoder(enc) -> str:
    """Register a loaded encoder (`gencurate.encoders.load_encoder`) with torch-fidelity; return its extractor name.

    Registering again under the same name swaps in the new encoder instance.
    """
    name = extractor_name(enc)
    _ENCODERS[name] = enc
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(name, EncoderFeatureExtractor)
    return name


class FidelityImageDataset(Dataset):
    """uint8 (N, H, W, C) array -> uint8 (C, H, W) tensors, torch-fidelity's input format.

    rgb=True repeats a single channel three times (Inception takes RGB only).
    """

    def __init__(self, images: np.ndarray, *, rgb: bool = False):
        self.images = check_image_array(np.asarray(images), where="torch-fidelity input")
        self.rgb = rgb

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(self.images[i].transpose(2, 0, 1)))
        return x.expand(3, -1, -1).contiguous() if self.rgb and x.shape[0] == 1 else x


def fidelity_metrics(
    samples: np.ndarray,
    reference: np.ndarray,
    *,
    feature_extractor: str,
    kid_subsets: int,
    kid_subset_size: int,
    prc_k: int,
    seed: int,
    batch_size: int,
    weights_path: str | None = None,
    cuda: bool | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """torch_fidelity.calculate_metrics on uint8 (N, H, W, C) arrays -> {fd, kid_mean, kid_std, precision, recall}.

    `samples` is torch-fidelity's input1 (generated), `reference` its input2 (real). No cache
    (state DVC cannot see) and no DataLoader workers (save_cpu_ram).
    """
    inception = feature_extractor == INCEPTION
    if inception:
        check_inception_weights(weights_path)
    elif feature_extractor not in FEATURE_EXTRACTORS_REGISTRY:
        raise ValueError(f"feature extractor {feature_extractor!r} is not registered; use register_encoder(enc)")
    result = torch_fidelity.calculate_metrics(
        input1=FidelityImageDataset(samples, rgb=inception),
        input2=FidelityImageDataset(reference, rgb=inception),
        fid=True, kid=True, prc=True,
        feature_extractor=feature_extractor,
        feature_extractor_weights_path=weights_path,
        kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
        prc_neighborhood=prc_k,
        rng_seed=seed,
        batch_size=batch_size,
        cuda=torch.cuda.is_available() if cuda is None else cuda,
        cache=False, save_cpu_ram=True, verbose=progress,
    )
    return {ours: float(result[theirs]) for theirs, ours in _KEYS.items()}


def check_inception_weights(weights_path: str | None) -> None:
    """One clear error unless `weights_path` is an existing file (torch-fidelity would try to download)."""
    if weights_path is None:
        raise ValueError(
            f"Inception FID needs torch-fidelity's Inception weights on disk ({INCEPTION_WEIGHTS_FILE}): "
            "set evaluate.inception_weights to their path (they cannot be downloaded here)"
        )
    if not Path(weights_path).is_file():
        raise ValueError(
            f"evaluate.inception_weights: {weights_path} is not a file (expected {INCEPTION_WEIGHTS_FILE})"
        )


def inception_metrics(
    samples: np.ndarray, reference: np.ndarray, *, weights_path: str | None, isc_splits: int, batch_size: int,
    cuda: bool | None = None, progress: bool = False,
) -> dict[str, float]:
    """Classic FID and Inception Score through torch-fidelity's Inception: uint8 (N, H, W, C) samples vs reference
    -> {fd_inception, inception_score, inception_score_std}.

    The Inception Score (Salimans et al. 2016) is of the samples alone, mean and std over
    `isc_splits` splits. Grayscale images are repeated to RGB. Without a local weights file this
    is one clear error (torch-fidelity would try to download them).
    """
    check_inception_weights(weights_path)
    if not 1 <= isc_splits <= len(samples):
        raise ValueError(f"Inception Score splits {isc_splits} must be in [1, {len(samples)}] (the sample count)")
    result = torch_fidelity.calculate_metrics(
        input1=FidelityImageDataset(samples, rgb=True),
        input2=FidelityImageDataset(reference, rgb=True),
        fid=True, isc=True, isc_splits=isc_splits,
        feature_extractor=INCEPTION,
        feature_extractor_weights_path=str(weights_path),
        batch_size=batch_size,
        cuda=torch.cuda.is_available() if cuda is None else cuda,
        cache=False, save_cpu_ram=True, verbose=progress,
    )
    return {
        KEY_FD_INCEPTION: float(result[torch_fidelity.KEY_METRIC_FID]),
        KEY_INCEPTION_SCORE: float(result[torch_fidelity.KEY_METRIC_ISC_MEAN]),
        KEY_INCEPTION_SCORE_STD: float(result[torch_fidelity.KEY_METRIC_ISC_STD]),
    }
