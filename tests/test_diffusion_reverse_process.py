"""The reverse process (DDPM and DDIM samplers) and drawing images from a model: exactness on a
point-mass data distribution, determinism, seeding."""

from __future__ import annotations

import pytest
import torch

from gencurate.diffusion.gaussian import GaussianDiffusion, Prediction
from gencurate.diffusion.reverse_process import Sampler, sample_loop, sampling_timesteps
from gencurate.diffusion.sampling import generate_images, sample_generator, unit_to_uint8


pytestmark = pytest.mark.usefixtures("torch_one_thread")


class PointMassOracle(torch.nn.Module):
    """The exact denoiser when all data equals `point`: x0 is known, so eps (or v) follows from x_t."""

    def __init__(self, diffusion: GaussianDiffusion, point: torch.Tensor) -> None:
        super().__init__()
        self.diffusion, self.point = diffusion, point

    def forward(self, xt, t):
        ab = self.diffusion.alpha_bar[t][:, None, None, None]
        eps = (xt - ab.sqrt() * self.point) / (1 - ab).sqrt()
        return eps if self.diffusion.prediction is Prediction.EPS else ab.sqrt() * eps - (1 - ab).sqrt() * self.point


def generators(n: int, seed: int = 0) -> list[torch.Generator]:
    return [sample_generator(seed, i, torch.device("cpu")) for i in range(n)]


def test_sampling_timesteps_are_evenly_spaced_and_end_at_zero():
    assert sampling_timesteps(1000, 1000).tolist() == list(range(999, -1, -1))
    assert sampling_timesteps(1000, 4).tolist() == [999, 666, 333, 0]
    with pytest.raises(ValueError, match="sampling steps"):
        sampling_timesteps(10, 11)


@pytest.mark.parametrize("sampler", list(Sampler))
@pytest.mark.parametrize("prediction", list(Prediction))
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_samplers_recover_a_point_mass(sampler, prediction, schedule):
    d = GaussianDiffusion(timesteps=100, schedule=schedule, prediction=prediction, min_snr_gamma=None)
    point = torch.linspace(-0.9, 0.9, 16).reshape(1, 1, 4, 4)
    out = sample_loop(PointMassOracle(d, point), d, generators(3), image_shape=(1, 4, 4), sampler=sampler, steps=10, eta=0.5)
    assert torch.allclose(out, point.expand(3, -1, -1, -1), atol=1e-4)


def test_ddim_eta0_is_deterministic_given_the_start_noise():
    d = GaussianDiffusion(timesteps=50, schedule="cosine", prediction="eps", min_snr_gamma=None)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    model = lambda x, t: net(x) * 0.1  # noqa: E731 - an arbitrary smooth "denoiser"
    a = sample_loop(model, d, generators(2, seed=3), image_shape=(1, 5, 5), sampler="ddim", steps=10, eta=0.0)
    b = sample_loop(model, d, generators(2, seed=3), image_shape=(1, 5, 5), sampler="ddim", steps=10, eta=0.0)
    c = sample_loop(model, d, generators(2, seed=4), image_shape=(1, 5, 5), sampler="ddim", steps=10, eta=0.0)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # with eta = 0 the generators are used once (x_T); extra draws must not happen
    gens = generators(2, seed=3)
    sample_loop(model, d, gens, image_shape=(1, 5, 5), sampler="ddim", steps=10, eta=0.0)
    reference = generators(2, seed=3)
    torch.randn((1, 5, 5), generator=reference[0])
    assert torch.equal(torch.randn(3, generator=gens[0]), torch.randn(3, generator=reference[0]))


def test_ddim_eta1_and_ddpm_are_stochastic_after_the_start():
    d = GaussianDiffusion(timesteps=50, schedule="cosine", prediction="eps", min_snr_gamma=None)
    model = lambda x, t: torch.zeros_like(x)  # noqa: E731
    det = sample_loop(model, d, generators(1), image_shape=(1, 3, 3), sampler="ddim", steps=5, eta=0.0)
    for sampler, eta in ((Sampler.DDIM, 1.0), (Sampler.DDPM, 0.0)):
        out = sample_loop(model, d, generators(1), image_shape=(1, 3, 3), sampler=sampler, steps=5, eta=eta)
        assert not torch.allclose(out, det)


def test_generate_images_shape_dtype_range_and_batch_size_invariance():
    d = GaussianDiffusion(timesteps=20, schedule="cosine", prediction="eps", min_snr_gamma=None)
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    model = lambda x, t: net(x)  # noqa: E731
    kwargs = dict(image_shape=(6, 6, 3), num_samples=7, steps=5, seed=0, progress=False)
    a = generate_images(model, d, batch_size=7, sampler="ddim", eta=0.0, **kwargs)
    assert a.shape == (7, 6, 6, 3) and a.dtype.name == "uint8"
    assert a.min() < 128 < a.max()  # spans the range, not a constant image
    for bs in (1, 3):
        b = generate_images(model, d, batch_size=bs, sampler="ddim", eta=0.0, **kwargs)
        assert abs(a.astype(int) - b.astype(int)).max() <= 1  # float rounding across batch shapes at most
        assert (a == b).mean() > 0.99
    # a prefix of a longer run is the same samples (sample i depends on (seed, i) only)
    c = generate_images(model, d, batch_size=4, sampler="ddim", eta=0.0, **{**kwargs, "num_samples": 3})
    assert abs(a[:3].astype(int) - c.astype(int)).max() <= 1
    for sampler, eta in (("ddim", 1.0), ("ddpm", 0.0)):  # stochastic samplers too
        x = generate_images(model, d, batch_size=7, sampler=sampler, eta=eta, **kwargs)
        y = generate_images(model, d, batch_size=2, sampler=sampler, eta=eta, **kwargs)
        assert abs(x.astype(int) - y.astype(int)).max() <= 1


def test_unit_to_uint8_maps_the_interval_ends():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 1, 5)
    assert unit_to_uint8(x).ravel().tolist() == [0, 0, 128, 255, 255]  # 127.5 rounds to even: 128
