"""An image encoder: uint8 images in, one pooled feature vector per image out.

`Preprocess` (gray -> RGB, resize, the network's own normalisation) is a small picklable
object apart from the network, so DataLoader workers can run it on the next batch while
the main process runs the forward pass on the current one; `Encoder.features` chains the
two for in-memory tensors, with identical numerics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def check_images(x: torch.Tensor) -> None:
    """One clear error for anything but a uint8 (N, C, H, W) batch with C in {1, 3}."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images (0..255), got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, C, H, W) with C in {{1, 3}}, got {tuple(x.shape)}")


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """uint8 (N, C, H, W), C in {1, 3} -> float32 (N, 3, S, S) as the network expects.

    mean/std are in pixel units (0..255), so EfficientNet-Lite's `(x - 127) / 128` is
    mean=127, std=128. `size=None` keeps the input size; `keep_pixels=True` skips the
    normalisation (networks such as torch-fidelity's Inception resize and normalise
    inside their own forward).
    """

    size: int | None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    interpolation: str = "bicubic"
    keep_pixels: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        if x.shape[1] == 1:
            # Gray images enter RGB networks as three equal channels.
            x = x.expand(-1, 3, -1, -1)
        x = x.float()
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            # Square images are resized as a whole (prepare and sample already make them square).
            x = F.interpolate(x, size=(self.size, self.size), mode=self.interpolation, antialias=True, align_corners=False)
            # Bicubic overshoots; clamp to the range a uint8 image (PIL's resize) would have.
            x = x.clamp_(0.0, 255.0)
        if self.keep_pixels:
            return x
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


class PooledTimm(nn.Module):
    """A timm model reduced to its pooled features: (N, 3, S, S) -> (N, D).

    EfficientNets average-pool the last feature map; ViTs take the final-norm CLS token.
    `model` keeps any classifier, so `model(x)` still gives logits (tests use them).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


class Encoder(nn.Module):
    """A pretrained network reduced to its pooled features, built frozen: eval mode (BatchNorm's
    running statistics, no dropout) and no gradients. Nothing trains it; `.train()` is plain
    nn.Module's and would switch BatchNorm to batch statistics, so callers never call it.

    Attributes: `name` (registry name), `dim` (feature size D), `input_size` (side S the
    network sees), `weights` (where the weights came from), `preprocess` (a `Preprocess`),
    `network` (maps preprocessed (N, 3, S, S) float to (N, D)), `device`.
    """

    def __init__(
        self,
        *,
        name: str,
        network: nn.Module,
        dim: int,
        input_size: int,
        preprocess: Preprocess,
        weights: str,
        mixed_precision: bool = True,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self.network = network
        self.dim = dim
        self.input_size = input_size
        self.preprocess = preprocess
        self.weights = weights
        # bf16 autocast only on CUDA; CPU runs stay in fp32 so they are exact and reproducible.
        self.mixed_precision = mixed_precision
        # NHWC convolutions: faster for EfficientNet-Lite on CPU (docs/design.md, Encoders).
        self.channels_last = channels_last
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        self.requires_grad_(False).eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed float (N, 3, S, S) -> float32 (N, D) raw pooled features."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = self.mixed_precision and x.device.type == "cuda" and torch.cuda.is_bf16_supported()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
            out = self.network(x)
        return out.float()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W), C in {1, 3}, any H, W -> float32 (N, D) raw pooled features."""
        check_images(x)
        return self(self.preprocess(x.to(self.device)))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, dim={self.dim}, input_size={self.input_size}, weights={self.weights!r}"
