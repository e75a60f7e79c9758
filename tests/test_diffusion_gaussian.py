"""Schedules, forward process, posterior and prediction types against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from gencurate.diffusion.gaussian import (
    GaussianDiffusion,
    Prediction,
    Schedule,
    beta_schedule,
    eps_to_v,
    gaussian_posterior,
    v_to_eps,
    v_to_x0,
)


def three_step_diffusion(prediction: str = "eps") -> GaussianDiffusion:
    """A 3-step chain with betas (0.1, 0.2, 0.5): alpha_bar = (0.9, 0.72, 0.36)."""
    d = GaussianDiffusion(timesteps=3, schedule="linear", prediction=prediction, min_snr_gamma=None)
    betas = torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    d.alpha_bar = alpha_bar.float()
    d.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]]).float()
    d.sqrt_alpha_bar = alpha_bar.sqrt().float()
    d.sqrt_one_minus_alpha_bar = (1 - alpha_bar).sqrt().float()
    return d


def test_linear_schedule_is_ddpm_at_t1000():
    betas = beta_schedule("linear", 1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)


def test_cosine_schedule_follows_nichol_dhariwal_eq17():
    T, s = 1000, 0.008
    betas = beta_schedule(Schedule.COSINE, T)
    alpha_bar = torch.cumprod(1 - betas, 0)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 500, 900):  # alpha_bar_t of the 0-based step t is f(t + 1) / f(0)
        assert alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert betas.max().item() <= 0.999 and (betas > 0).all()


def test_q_sample_closed_form():
    d = GaussianDiffusion(timesteps=1000, schedule="linear", prediction="eps", min_snr_gamma=None)
    x0, noise = torch.full((2, 1, 2, 2), 0.5), torch.full((2, 1, 2, 2), -1.0)
    t = torch.tensor([0, 999])
    alpha_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    expected = [alpha_bar[i].sqrt() * 0.5 - (1 - alpha_bar[i]).sqrt() for i in (0, 999)]
    out = d.q_sample(x0, t, noise)
    for i in range(2):
        assert torch.allclose(out[i], torch.full((1, 2, 2), expected[i].item()), atol=1e-6)


def test_q_sample_has_the_forward_marginal_statistics():
    d = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction="eps", min_snr_gamma=None)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1, 1), 0.8)
    t = torch.full((20000,), 300)
    xt = d.q_sample(x0, t, torch.randn(x0.shape, generator=g))
    ab = d.alpha_bar[300].item()
    assert xt.mean().item() == pytest.approx(math.sqrt(ab) * 0.8, abs=0.02)
    assert xt.var().item() == pytest.approx(1 - ab, rel=0.03)


def test_posterior_against_hand_computed_three_step_chain():
    d = three_step_diffusion()
    x0 = torch.full((3, 1, 1, 1), 1.0)
    xt = torch.full((3, 1, 1, 1), 2.0)
    post = d.q_posterior(x0, xt, torch.tensor([0, 1, 2]))
    # By hand (Ho et al. eq. 7): t=1 (0-based 1): beta=.2, ab=.72, ab_prev=.9
    #   mean = sqrt(.9)*.2/.28 * 1 + sqrt(.8)*.1/.28 * 2, var = .2*.1/.28
    # t=2: beta=.5, ab=.36, ab_prev=.72: mean = sqrt(.72)*.5/.64 + sqrt(.5)*.28/.64*2, var = .5*.28/.64
    # t=0: ab_prev = 1: mean = x0, var = 0
    expected_mean = [1.0, math.sqrt(0.9) * 0.2 / 0.28 + math.sqrt(0.8) * 0.1 / 0.28 * 2, math.sqrt(0.72) * 0.5 / 0.64 + math.sqrt(0.5) * 0.28 / 0.64 * 2]
    expected_var = [0.0, 0.2 * 0.1 / 0.28, 0.5 * 0.28 / 0.64]
    for i in range(3):
        assert post.mean[i].item() == pytest.approx(expected_mean[i], rel=1e-6)
        assert post.variance[i].item() == pytest.approx(expected_var[i], rel=1e-6, abs=1e-9)
    assert post.log_variance[1].item() == pytest.approx(math.log(expected_var[1]), rel=1e-6)
    assert torch.isfinite(post.log_variance).all()


def test_posterior_is_the_conditional_of_the_joint_gaussian():
    """Monte Carlo: x_{t-1} ~ q(x_{t-1}|x0), x_t ~ q(x_t|x_{t-1}); regress x_{t-1} on x_t."""
    g = torch.Generator().manual_seed(1)
    ab_prev, ab_t = torch.tensor(0.7, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    alpha = ab_t / ab_prev
    x0 = 0.3
    x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * torch.randn(400_000, generator=g, dtype=torch.float64)
    x_t = alpha.sqrt() * x_prev + (1 - alpha).sqrt() * torch.randn(400_000, generator=g, dtype=torch.float64)
    sel = (x_t - 0.4).abs() < 0.01  # condition on x_t ~ 0.4
    post = gaussian_posterior(torch.full((1, 1), x0, dtype=torch.float64), torch.full((1, 1), 0.4, dtype=torch.float64), ab_t[None], ab_prev[None])
    assert x_prev[sel].mean().item() == pytest.approx(post.mean.item(), abs=0.01)
    assert x_prev[sel].var().item() == pytest.approx(post.variance.item(), rel=0.05)


def test_v_and_eps_conversions_round_trip():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 3, 5, 5, generator=g)
    alpha_bar = torch.tensor([0.999, 0.5, 0.1, 1e-3])
    xt = alpha_bar.sqrt()[:, None, None, None] * x0 + (1 - alpha_bar).sqrt()[:, None, None, None] * eps
    v = eps_to_v(eps, x0, alpha_bar)
    assert torch.allclose(v_to_x0(v, xt, alpha_bar), x0, atol=1e-5)
    assert torch.allclose(v_to_eps(v, xt, alpha_bar), eps, atol=1e-5)
    # v = alpha eps - sigma x0 by hand for one element
    assert v[1, 0, 0, 0].item() == pytest.approx(math.sqrt(0.5) * (eps[1, 0, 0, 0] - x0[1, 0, 0, 0]).item(), rel=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_split_prediction_inverts_the_target(prediction):
    d = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction=prediction, min_snr_gamma=None)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1, torch.randn(6, 1, 4, 4, generator=g)
    t = torch.tensor([0, 1, 100, 500, 900, 998])
    xt = d.q_sample(x0, t, noise)
    x0_hat, eps_hat = d.split_prediction(xt, t, d.target(x0, noise, t))
    assert torch.allclose(eps_hat, noise, atol=1e-3)
    assert torch.allclose(x0_hat[:5], x0[:5], atol=1e-3)  # t=998 divides by a tiny sqrt(alpha_bar) for eps


@pytest.mark.parametrize("prediction", list(Prediction))
def test_loss_is_zero_for_the_oracle_and_positive_otherwise(prediction):
    d = GaussianDiffusion(timesteps=100, schedule="cosine", prediction=prediction, min_snr_gamma=None)
    x0 = torch.full((8, 1, 4, 4), 0.25)

    class Oracle(torch.nn.Module):  # knows the data is the constant 0.25, so x0 and eps follow from x_t
        def forward(self, xt, t):
            ab = d.alpha_bar[t][:, None, None, None]
            eps = (xt - ab.sqrt() * 0.25) / (1 - ab).sqrt()
            return eps if d.prediction is Prediction.EPS else ab.sqrt() * eps - (1 - ab).sqrt() * 0.25

    g = torch.Generator().manual_seed(0)
    assert d.loss(Oracle(), x0, generator=g).item() < 1e-8
    assert d.loss(lambda xt, t: torch.zeros_like(xt), x0, generator=g).item() > 0.01


def test_min_snr_weights_by_hand():
    t = torch.tensor([0, 500, 999])
    eps = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction="eps", min_snr_gamma=5.0)
    v = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction="v", min_snr_gamma=5.0)
    snr = (eps.alpha_bar[t] / (1 - eps.alpha_bar[t])).double()
    assert snr[0] > 5 > snr[2]  # t=0 is clipped, t=999 is not
    expected_eps = [5 / snr[0], min(snr[1], 5) / snr[1], 1.0]
    expected_v = [5 / (snr[0] + 1), min(snr[1], 5) / (snr[1] + 1), snr[2] / (snr[2] + 1)]
    for got, want in ((eps.loss_weights(t), expected_eps), (v.loss_weights(t), expected_v)):
        assert torch.allclose(got.double(), torch.tensor([float(w) for w in want], dtype=torch.float64), rtol=1e-5)
    simple = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction="eps", min_snr_gamma=None)
    assert torch.equal(simple.loss_weights(t), torch.ones(3))
    with pytest.raises(ValueError, match="min_snr_gamma"):
        GaussianDiffusion(timesteps=1000, schedule="cosine", prediction="eps", min_snr_gamma=0.0)
