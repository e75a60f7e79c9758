"""The UNet: shapes at the supported resolutions, attention placement, identity-like init."""

from __future__ import annotations

import pytest
import torch

from gencurate.config.train import unet_level_sides
from gencurate.diffusion.unet import AttentionBlock, UNet, build_unet, timestep_embedding


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def small_unet(**overrides) -> UNet:
    """A small UNet; every constructor argument given (the constructor has no defaults)."""
    args = dict(image_channels=1, image_size=28, base_channels=8, channel_mults=(1, 2, 2), num_res_blocks=1,
                attention_resolutions=(7,), dropout=0.0)
    return UNet(**{**args, **overrides})


@pytest.mark.parametrize(
    ("size", "channels", "mults", "attention"),
    [(28, 1, (1, 2, 2), (7,)), (28, 1, (1, 2, 2, 2), (4,)), (32, 3, (1, 2, 2), (16,)), (64, 3, (1, 1, 2, 2), (16,)), (128, 3, (1, 1, 1, 2, 2), (16,))],
)
def test_output_shape_matches_input(size, channels, mults, attention):
    net = small_unet(image_channels=channels, image_size=size, channel_mults=mults, attention_resolutions=attention)
    x = torch.randn(1, channels, size, size)
    assert net(x, torch.tensor([999])).shape == x.shape
    assert any(isinstance(m, AttentionBlock) for m in net.down.modules()), "attention side not placed"


def test_attention_goes_where_the_feature_map_side_is_listed():
    def sides_with_attention(attention):
        net = small_unet(attention_resolutions=attention)
        return sum(isinstance(m, AttentionBlock) for m in net.down.modules()), sum(isinstance(m, AttentionBlock) for m in net.up.modules())

    assert sides_with_attention(()) == (0, 0)
    assert sides_with_attention((7,)) == (1, 2)  # one res block down, two up at 7x7
    assert sides_with_attention((14, 7)) == (2, 4)
    assert sides_with_attention((5,)) == (0, 0)  # no level has side 5


def test_wrong_image_size_is_a_clear_error():
    net = small_unet()
    with pytest.raises(ValueError, match="28-pixel"):
        net(torch.randn(1, 1, 32, 32), torch.zeros(1, dtype=torch.long))


def test_zero_initialised_output_and_time_conditioning():
    torch.manual_seed(0)
    net = small_unet(image_size=16, channel_mults=(1, 2), attention_resolutions=(8,))
    x = torch.randn(2, 1, 16, 16)
    assert net(x, torch.tensor([0, 5])).abs().max().item() == 0.0  # final conv starts at zero
    for p in net.parameters():  # undo the zero inits (block outputs, final conv)
        torch.nn.init.normal_(p, std=0.1)
    out = net(x[:1].repeat(2, 1, 1, 1), torch.tensor([0, 900]))
    assert not torch.allclose(out[0], out[1]), "the timestep must change the output"


def test_timestep_embedding_values():
    emb = timestep_embedding(torch.tensor([0, 1]), 4)
    # dim 4: frequencies (1, 1e-2); t=0 -> cos=1, sin=0
    assert torch.allclose(emb[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.allclose(emb[1], torch.tensor([torch.cos(torch.tensor(1.0)), torch.cos(torch.tensor(0.01)), torch.sin(torch.tensor(1.0)), torch.sin(torch.tensor(0.01))]))


def test_parameter_count_grows_with_base_channels():
    count = lambda b: sum(p.numel() for p in small_unet(base_channels=b).parameters())  # noqa: E731
    assert 3.5 < count(32) / count(16) < 4.5  # convolutions dominate: ~quadratic in width


@pytest.mark.parametrize(("size", "levels", "sides"), [(28, 3, [28, 14, 7]), (28, 4, [28, 14, 7, 4]), (32, 3, [32, 16, 8]),
                                                      (9, 3, [9, 5, 3]), (16, 1, [16])])
def test_level_sides_are_the_feature_map_sides_the_unet_computes(size, levels, sides):
    assert unet_level_sides(size, levels) == sides
    net = small_unet(image_size=size, channel_mults=(1,) * levels, attention_resolutions=())
    seen = []
    net.conv_in.register_forward_hook(lambda m, i, out: seen.append(out.shape[-1]))
    for layer in net.down:
        layer.register_forward_hook(lambda m, i, out: seen.append(out.shape[-1]))
    net(torch.zeros(1, 1, size, size), torch.zeros(1, dtype=torch.long))
    assert sorted(set(seen), reverse=True) == sides


def test_build_unet_takes_the_train_unet_mapping_and_the_data_shape():
    unet = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(8,), dropout=0.0)
    net = build_unet(unet, (16, 16, 3))
    assert (net.image_size, net.image_channels, net.base_channels) == (16, 3, 8)
    with pytest.raises(ValueError, match="square"):
        build_unet(unet, (16, 12, 3))
