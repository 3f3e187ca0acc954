"""The DDPM schedule, posterior, respacing and samplers against closed forms and diffusers' schedulers."""

from __future__ import annotations

import math

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from diffst.diffusion import GaussianDiffusion, charbonnier, space_timesteps


def test_linear_schedule_and_q_sample_match_closed_form_and_diffusers() -> None:
    d = GaussianDiffusion.linear(1000)
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(d.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-12)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    np.testing.assert_allclose(d.alphas_cumprod.numpy(), sched.alphas_cumprod.double().numpy(), rtol=1e-5)
    x0, noise = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    t = torch.tensor([0, 500, 999])
    torch.testing.assert_close(d.q_sample(x0, t, noise), sched.add_noise(x0, noise, t), rtol=1e-5, atol=1e-5)


def test_posterior_matches_closed_form() -> None:
    d = GaussianDiffusion.linear(1000)
    t = 300
    abar, abar_prev, beta = float(d.alphas_cumprod[t]), float(d.alphas_cumprod[t - 1]), float(d.betas[t])
    x0, xt = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3)
    mean, log_var = d.q_posterior(x0, xt, torch.tensor([t]))
    want = (math.sqrt(abar_prev) * beta / (1 - abar)) * x0 + (math.sqrt(1 - beta) * (1 - abar_prev) / (1 - abar)) * xt
    torch.testing.assert_close(mean, want, rtol=1e-5, atol=1e-6)
    assert math.isclose(float(log_var.flatten()[0]), math.log(beta * (1 - abar_prev) / (1 - abar)), rel_tol=1e-5)


def test_respacing_1000_to_20_matches_diffusers_linspace_timesteps() -> None:
    use = space_timesteps(1000, "20")
    assert len(use) == 20 and use[0] == 0 and use[-1] == 999
    sched = DDPMScheduler(num_train_timesteps=1000, timestep_spacing="linspace")
    sched.set_timesteps(20)
    assert sorted(sched.timesteps.tolist()) == use
    d = GaussianDiffusion.linear(1000)
    r = d.respaced("20")
    # the respaced chain keeps the cumulative alphas of the kept steps (betas recomputed from their ratios)
    np.testing.assert_allclose(r.alphas_cumprod.numpy(), d.alphas_cumprod.numpy()[use], rtol=1e-10)
    assert r.timestep_map.tolist() == use
    assert space_timesteps(1000, "ddim20") == list(range(0, 1000, 50))


def test_respaced_ancestral_step_equals_diffusers_ddpm_step_with_learned_range() -> None:
    """Same model output (eps, v), same x_t and the same noise: our respaced p_sample step and diffusers'
    DDPMScheduler.step (learned_range, linspace spacing) give the same x_{t-1} at every one of the 20 steps."""
    d = GaussianDiffusion.linear(1000).respaced("20")
    sched = DDPMScheduler(
        num_train_timesteps=1000, variance_type="learned_range", timestep_spacing="linspace", clip_sample=True
    )
    sched.set_timesteps(20)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 4, generator=g)
    for k, t_orig in enumerate(sched.timesteps.tolist()):
        i = d.num_timesteps - 1 - k  # respaced index
        assert int(d.timestep_map[i]) == t_orig
        eps, v = torch.randn(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(100 + k))
        mean, log_var, _ = d.p_mean_variance(eps, v, x, torch.full((2,), i))
        ours = (mean + (i > 0) * torch.exp(0.5 * log_var) * noise).float()
        ref = sched.step(torch.cat([eps, v], dim=1), t_orig, x, generator=torch.Generator().manual_seed(100 + k))
        torch.testing.assert_close(ours, ref.prev_sample, rtol=1e-4, atol=1e-4)
        x = ours


def test_ddim_matches_diffusers_ddim_scheduler() -> None:
    d = GaussianDiffusion.linear(1000).respaced("ddim20")
    sched = DDIMScheduler(num_train_timesteps=1000, timestep_spacing="leading", set_alpha_to_one=True, clip_sample=True)
    sched.set_timesteps(20)
    assert sched.timesteps.tolist() == [int(t) for t in reversed(d.timestep_map.tolist())]
    g = torch.Generator().manual_seed(1)
    eps_seq = [torch.randn(1, 2, 4, 4, generator=g) for _ in range(20)]
    x_init = torch.randn(1, 2, 4, 4, generator=g)
    calls = iter(eps_seq)
    ours = d.sample(lambda x, t: next(calls), x_init.shape, lambda _i: x_init, learn_sigma=False, method="ddim")
    x = x_init
    for t, eps in zip(sched.timesteps.tolist(), eps_seq):
        x = sched.step(eps, t, x, eta=0.0, use_clipped_model_output=True).prev_sample  # as improved diffusion
    torch.testing.assert_close(ours.float(), x, rtol=1e-4, atol=1e-4)


def test_vlb_is_zero_for_the_true_posterior_and_positive_otherwise() -> None:
    d = GaussianDiffusion.linear(1000)
    x0 = torch.rand(2, 1, 4, 4) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([400, 700])
    xt = d.q_sample(x0, t, noise)
    v_post = -torch.ones_like(x0)  # f = 0: log var = the posterior's
    kl = d.vlb_terms(noise, v_post, x0, xt, t)
    assert torch.allclose(kl, torch.zeros(2), atol=1e-5)
    assert (d.vlb_terms(noise + 0.5, torch.ones_like(x0), x0, xt, t) > 1e-3).all()


def test_charbonnier_against_hand_value() -> None:
    a, b = torch.tensor([0.0, 3.0]), torch.tensor([0.0, -1.0])
    assert math.isclose(float(charbonnier(a, b, eps=1e-6)), (math.sqrt(1e-6) + math.sqrt(16 + 1e-6)) / 2, rel_tol=1e-6)
