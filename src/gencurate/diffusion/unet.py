"""The denoising network: a DDPM UNet (Ho et al. 2020, https://arxiv.org/abs/2006.11239).

Network only: it maps a noisy batch and its timesteps to a tensor of the same shape
(eps or v, as the diffusion decides). Its keyword-only constructor maps 1:1 onto
params.yaml `train.unet`, plus `image_channels` taken from the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gencurate.config.train import unet_level_sides

HEAD_CHANNELS = 32  # channels per attention head (as in improved-diffusion's num_head_channels)
MAX_GROUPS = 32  # GroupNorm groups (Wu & He 2018; DDPM uses 32)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= 32 that divides `channels`."""
    return nn.GroupNorm(math.gcd(MAX_GROUPS, channels), channels)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps (Vaswani et al. 2017, as used by DDPM).

    t: [N] (int or float) -> [N x dim] float32.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice; the time embedding scales and shifts the second norm
    (adaptive GroupNorm, Dhariwal & Nichol 2021 https://arxiv.org/abs/2105.05233 sec. 3).
    x [N x C_in x H x W], emb [N x E] -> [N x C_out x H x W]."""

    def __init__(self, *, in_channels: int, out_channels: int, emb_channels: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb = nn.Linear(emb_channels, 2 * out_channels)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        # Zero-initialised last conv: each block starts as the identity (improved-diffusion's zero_module).
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, residual. [N x C x H x W] -> same."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.heads = max(1, channels // HEAD_CHANNELS)
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each [N x heads x HW x C/heads]
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class Downsample(nn.Module):
    """Strided 3x3 conv: side s -> ceil(s / 2) (28 -> 14 -> 7 -> 4)."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling to the skip connection's size, then a 3x3 conv
    (resizing to an explicit size keeps odd sides such as 7 -> 4 -> 7 exact)."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class UNet(nn.Module):
    """DDPM UNet. forward(x [N x C x H x W], t [N]) -> [N x C x H x W].

    Args (keyword-only; image_* come from the data, the rest 1:1 from params.yaml `train.unet`):
        image_channels: C of the data (1 or 3).
        image_size: side of the (square) images, to place attention by feature-map side.
        base_channels: channels of the first level.
        channel_mults: one multiplier of base_channels per resolution level; each level but
            the last halves the side (28 -> 14 -> 7 for three levels).
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_resolutions: feature-map sides (in pixels) that get self-attention,
            e.g. (7,) for 28-pixel images with three levels, (16,) for 32-pixel images.
        dropout: dropout inside residual blocks.
    """

    def __init__(
        self,
        *,
        image_channels: int,
        image_size: int,
        base_channels: int,
        channel_mults: Sequence[int],
        num_res_blocks: int,
        attention_resolutions: Sequence[int],
        dropout: float,
    ) -> None:
        super().__init__()
        if min(image_channels, image_size, base_channels, num_res_blocks, *channel_mults) < 1:
            raise ValueError("UNet: image_channels, image_size, base_channels, channel_mults, num_res_blocks must be >= 1")
        self.image_channels = image_channels
        self.base_channels = base_channels
        emb_channels = 4 * base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, emb_channels), nn.SiLU(), nn.Linear(emb_channels, emb_channels)
        )
        self.image_size = image_size
        self.conv_in = nn.Conv2d(image_channels, base_channels, 3, padding=1)
        # attention where the feature-map side is listed (DDPM: 16 of 32 pixels)
        sides = unet_level_sides(image_size, len(channel_mults))
        attn = [side in set(attention_resolutions) for side in sides]

        self.down = nn.ModuleList()
        skip_channels = [base_channels]
        ch = base_channels
        for level, mult in enumerate(channel_mults):
            out = base_channels * mult
            for _ in range(num_res_blocks):
                self.down.append(_Stage(ch, out, emb_channels, dropout, attn[level]))
                ch = out
                skip_channels.append(ch)
            if level < len(channel_mults) - 1:
                self.down.append(Downsample(channels=ch))
                skip_channels.append(ch)

        self.mid1 = ResBlock(in_channels=ch, out_channels=ch, emb_channels=emb_channels, dropout=dropout)
        self.mid_attn = AttentionBlock(channels=ch)
        self.mid2 = ResBlock(in_channels=ch, out_channels=ch, emb_channels=emb_channels, dropout=dropout)

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            out = base_channels * mult
            for _ in range(num_res_blocks + 1):
                self.up.append(_Stage(ch + skip_channels.pop(), out, emb_channels, dropout, attn[level]))
                ch = out
            if level > 0:
                self.up.append(Upsample(channels=ch))

        self.norm_out = group_norm(ch)
        self.conv_out = nn.Conv2d(ch, image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size:
            raise ValueError(f"UNet built for {self.image_size}-pixel images got side {x.shape[-1]}")
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = layer(h) if isinstance(layer, Downsample) else layer(h, emb)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, Upsample):
                h = layer(h, skips[-1].shape[-2:])
            else:
                h = layer(torch.cat([h, skips.pop()], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class _Stage(nn.Module):
    """A ResBlock optionally followed by self-attention."""

    def __init__(self, in_ch: int, out_ch: int, emb_ch: int, dropout: float, attention: bool) -> None:
        super().__init__()
        self.res = ResBlock(in_channels=in_ch, out_channels=out_ch, emb_channels=emb_ch, dropout=dropout)
        self.attn = AttentionBlock(channels=out_ch) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.res(x, emb)
        return self.attn(h) if self.attn is not None else h


def build_unet(unet: Mapping[str, Any], image_shape: Sequence[int]) -> UNet:
    """UNet from a `train.unet` mapping and the data's (H, W, C)."""
    h, w, c = image_shape
    if h != w:
        raise ValueError(f"images must be square, got {h}x{w}")
    return UNet(image_channels=c, image_size=h, **dict(unet))
