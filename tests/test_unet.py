"""The UNet: shapes at the supported resolutions, attention placement, identity-like init."""

from __future__ import annotations

import pytest
import torch

from gencurate.diffusion.unet import AttentionBlock, UNet, timestep_embedding


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize(
    ("size", "channels", "mults", "attention"),
    [(28, 1, (1, 2, 2), (7,)), (28, 1, (1, 2, 2, 2), (4,)), (32, 3, (1, 2, 2), (16,)), (64, 3, (1, 1, 2, 2), (16,)), (128, 3, (1, 1, 1, 2, 2), (16,))],
)
def test_output_shape_matches_input(size, channels, mults, attention):
    net = UNet(image_channels=channels, image_size=size, base_channels=8, channel_mults=mults, attention_resolutions=attention)
    x = torch.randn(1, channels, size, size)
    assert net(x, torch.tensor([999])).shape == x.shape
    assert any(isinstance(m, AttentionBlock) for m in net.down.modules()), "attention side not placed"


def test_attention_goes_where_the_feature_map_side_is_listed():
    def sides_with_attention(attention):
        net = UNet(image_channels=1, image_size=28, base_channels=8, channel_mults=(1, 2, 2), attention_resolutions=attention)
        return sum(isinstance(m, AttentionBlock) for m in net.down.modules()), sum(isinstance(m, AttentionBlock) for m in net.up.modules())

    assert sides_with_attention(()) == (0, 0)
    assert sides_with_attention((7,)) == (1, 2)  # one res block down, two up at 7x7
    assert sides_with_attention((14, 7)) == (2, 4)
    assert sides_with_attention((5,)) == (0, 0)  # no level has side 5


def test_wrong_image_size_is_a_clear_error():
    net = UNet(image_channels=1, image_size=28, base_channels=8)
    with pytest.raises(ValueError, match="28-pixel"):
        net(torch.randn(1, 1, 32, 32), torch.zeros(1, dtype=torch.long))


def test_zero_initialised_output_and_time_conditioning():
    torch.manual_seed(0)
    net = UNet(image_channels=1, image_size=16, base_channels=8, channel_mults=(1, 2), attention_resolutions=(8,))
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
    count = lambda b: sum(p.numel() for p in UNet(image_channels=1, image_size=28, base_channels=b).parameters())  # noqa: E731
    assert 3.5 < count(32) / count(16) < 4.5  # convolutions dominate: ~quadratic in width
