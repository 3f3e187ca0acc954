"""The conditional DDPM of Diff-ST (Sec. 2.1): linear beta schedule, eps-prediction with learned variance
(Nichol & Dhariwal's interpolation between beta_t and the posterior variance), the variational bound term, and
ancestral sampling on a respaced schedule (20 steps in the paper) or DDIM.

The closed forms (q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0), respacing by the cumulative alphas) are checked
against diffusers' ``DDPMScheduler`` / ``DDIMScheduler`` in the tests; training noises with ``DDPMScheduler.add_noise``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["GaussianDiffusion", "charbonnier", "space_timesteps"]


def linear_betas(steps: int, start: float = 1e-4, end: float = 0.02) -> np.ndarray:
    """The DDPM linear schedule (rescaled to ``steps`` as in improved diffusion: ``1000 / steps`` x the ends)."""
    scale = 1000 / steps
    return np.linspace(scale * start, scale * end, steps, dtype=np.float64)


def space_timesteps(num_timesteps: int, spacing: str | int) -> list[int]:
    """The kept timesteps: ``"20"`` = 20 evenly spaced (rounded, first and last included), ``"ddim20"`` = stride
    ``T // 20`` from 0 (the DDIM convention)."""
    s = str(spacing)
    if s.startswith("ddim"):
        n = int(s[4:])
        return list(range(0, num_timesteps, num_timesteps // n))[:n]
    n = int(s)
    if n >= num_timesteps:
        return list(range(num_timesteps))
    if n == 1:
        return [num_timesteps - 1]
    stride = (num_timesteps - 1) / (n - 1)
    return sorted({round(i * stride) for i in range(n)})


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Charbonnier loss mean(sqrt((a - b)^2 + eps)) (Eq. 8: the paper's robust replacement of the eps MSE)."""
    return torch.sqrt((a - b).pow(2) + eps).mean()


def _normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def _discretized_gaussian_log_likelihood(
    x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> torch.Tensor:
    """log p(x) of data in [-1, 1] under a Gaussian discretised into 256 bins (improved diffusion's decoder term)."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = _approx_std_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = _approx_std_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    mid = torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12)))
    return torch.where(x < -0.999, log_cdf_plus, mid)


def _extract(arr: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    return arr.to(t.device)[t].float().view(-1, *([1] * (ndim - 1)))


class GaussianDiffusion:
    """A DDPM over ``betas`` (float64 tables, as torch tensors); ``timestep_map`` maps the (respaced) index to the
    original timestep that the network is conditioned on."""

    def __init__(self, betas: np.ndarray, timestep_map: Sequence[int] | None = None) -> None:
        betas = np.asarray(betas, dtype=np.float64)
        self.num_timesteps = len(betas)
        alphas_cumprod = np.cumprod(1.0 - betas)
        prev = np.append(1.0, alphas_cumprod[:-1])
        post_var = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
        t64 = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
        self.betas = t64(betas)
        self.alphas_cumprod = t64(alphas_cumprod)
        self.alphas_cumprod_prev = t64(prev)
        self.sqrt_alphas_cumprod = t64(np.sqrt(alphas_cumprod))
        self.sqrt_one_minus_alphas_cumprod = t64(np.sqrt(1.0 - alphas_cumprod))
        self.sqrt_recip_alphas_cumprod = t64(np.sqrt(1.0 / alphas_cumprod))
        self.sqrt_recipm1_alphas_cumprod = t64(np.sqrt(1.0 / alphas_cumprod - 1))
        self.posterior_variance = t64(post_var)
        # log of the posterior variance with its t=0 value (0) replaced by the t=1 value (improved diffusion)
        self.posterior_log_variance_clipped = t64(np.log(np.append(post_var[1], post_var[1:])))
        self.posterior_mean_coef1 = t64(betas * np.sqrt(prev) / (1.0 - alphas_cumprod))
        self.posterior_mean_coef2 = t64((1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod))
        self.timestep_map = torch.tensor(list(timestep_map) if timestep_map is not None else range(len(betas)))

    @classmethod
    def linear(cls, steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> GaussianDiffusion:
        return cls(linear_betas(steps, beta_start, beta_end))

    def respaced(self, spacing: str | int) -> GaussianDiffusion:
        """The same process on the kept timesteps: beta_i = 1 - abar_{t_i} / abar_{t_{i-1}} (improved diffusion)."""
        use = space_timesteps(self.num_timesteps, spacing)
        last, betas = 1.0, []
        for t in use:
            abar = float(self.alphas_cumprod[t])
            betas.append(1 - abar / last)
            last = abar
        return GaussianDiffusion(np.array(betas), [int(self.timestep_map[t]) for t in use])

    # --- forward process ---------------------------------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Eq. 1)."""
        return (
            _extract(self.sqrt_alphas_cumprod, t, x0.ndim) * x0
            + _extract(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * noise
        )

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance (clipped) of q(x_{t-1} | x_t, x_0)."""
        mean = (
            _extract(self.posterior_mean_coef1, t, xt.ndim) * x0 + _extract(self.posterior_mean_coef2, t, xt.ndim) * xt
        )
        return mean, _extract(self.posterior_log_variance_clipped, t, xt.ndim)

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return (
            _extract(self.sqrt_recip_alphas_cumprod, t, xt.ndim) * xt
            - _extract(self.sqrt_recipm1_alphas_cumprod, t, xt.ndim) * eps
        )

    def split_output(self, out: torch.Tensor, learn_sigma: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        return (out.chunk(2, dim=1)) if learn_sigma else (out, None)

    def p_mean_variance(
        self, eps: torch.Tensor, v: torch.Tensor | None, xt: torch.Tensor, t: torch.Tensor, clip: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, log-variance, x0_hat) of p(x_{t-1} | x_t). Learned range: log sigma^2 = f log beta_t + (1 - f)
        log beta~_t with f = (v + 1) / 2; fixed (v None): the clipped posterior variance."""
        min_log = _extract(self.posterior_log_variance_clipped, t, xt.ndim)
        if v is None:
            log_var = min_log
        else:
            max_log = _extract(torch.log(self.betas), t, xt.ndim)
            frac = (v + 1) / 2
            log_var = frac * max_log + (1 - frac) * min_log
        x0 = self.predict_x0(xt, t, eps)
        if clip:
            x0 = x0.clamp(-1, 1)
        mean, _ = self.q_posterior(x0, xt, t)
        return mean, log_var, x0

    def vlb_terms(
        self, eps: torch.Tensor, v: torch.Tensor, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Per-sample L_vlb in bits per dimension (improved diffusion): KL(q || p) for t > 0, the discretised
        decoder NLL at t = 0. Gradients reach only the variance (the mean uses a detached eps)."""
        true_mean, true_log_var = self.q_posterior(x0, xt, t)
        mean, log_var, _ = self.p_mean_variance(eps.detach(), v, xt, t, clip=False)
        kl = _normal_kl(true_mean, true_log_var, mean, log_var).flatten(1).mean(1) / math.log(2.0)
        nll = -_discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var).flatten(1).mean(1) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    # --- sampling ----------------------------------------------------------------------------------------------------
    def sample(
        self,
        model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        shape: Sequence[int],
        noise: Callable[[int], torch.Tensor],
        learn_sigma: bool = True,
        method: str = "ddpm",
    ) -> torch.Tensor:
        """Ancestral DDPM (``method="ddpm"``) or deterministic DDIM (eta = 0) from x_T = ``noise(0)``; ``noise(i)``
        gives the (B, ...) standard normal of step i (per-sample generators keep samples independent of batching).
        ``model(x, t_orig)`` returns the network output for the original timesteps."""
        x = noise(0).reshape(shape)
        for k, i in enumerate(reversed(range(self.num_timesteps))):
            t = torch.full((shape[0],), i, dtype=torch.long, device=x.device)
            eps, v = self.split_output(model(x, self.timestep_map.to(x.device)[t]), learn_sigma)
            if method == "ddim":
                x0 = self.predict_x0(x, t, eps).clamp(-1, 1)
                eps = (_extract(self.sqrt_recip_alphas_cumprod, t, x.ndim) * x - x0) / _extract(
                    self.sqrt_recipm1_alphas_cumprod, t, x.ndim
                )
                abar_prev = _extract(self.alphas_cumprod_prev, t, x.ndim)
                x = x0 * abar_prev.sqrt() + (1 - abar_prev).sqrt() * eps
            else:
                mean, log_var, _ = self.p_mean_variance(eps, v, x, t)
                x = mean + (i > 0) * torch.exp(0.5 * log_var) * noise(k + 1).reshape(shape)
        return x
