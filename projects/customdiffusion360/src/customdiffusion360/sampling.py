"""Sampling with three-way guidance (paper Section 3.4) and DDIM, as in InstructPix2Pix:

    ε = ε(∅, ∅) + s_img [ε(∅, ref) - ε(∅, ∅)] + s_txt [ε(txt, ref) - ε(∅, ref)]

"∅ ref" is the FeatureNeRF rendering of zero-image reference features (the regularisation samples' references), "∅
txt" the empty prompt. The rendered features do not depend on x_t or t: they are computed at the first step and
reused for every later step. Noise comes from one generator per sample (seeded by the caller), so a sample does not
depend on the other samples of its batch.
"""

from __future__ import annotations

import torch

from customdiffusion360.base import TextCondition
from customdiffusion360.model import CustomDiffusion360
from customdiffusion360.nerf import Cameras

__all__ = ["guided_sample", "per_sample_noise"]


def per_sample_noise(seeds: list[int], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """One Gaussian draw of ``shape`` per seed: (len(seeds), *shape)."""
    out = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(out).to(device)


def _cat_cams(c: Cameras, k: int) -> Cameras:
    return Cameras(*(torch.cat([x] * k) for x in (c.R, c.T, c.focal, c.pp)))


@torch.no_grad()
def guided_sample(
    model: CustomDiffusion360,
    text: TextCondition,
    null_text: TextCondition,
    target: Cameras,
    refs: Cameras,
    ref_features: dict[str, torch.Tensor],
    null_ref_features: dict[str, torch.Tensor],
    noise: torch.Tensor,
    steps: int = 20,
    s_txt: float = 7.5,
    s_img: float = 3.5,
) -> torch.Tensor:
    """DDIM (eta 0) from ``noise`` (B, C, H, W) to x_0 in the UNet's space. ref_features: {block: (B, N, d, h, w)}."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(
        model.base.scheduler_config, clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing"
    )
    sched.set_timesteps(steps)
    b = noise.shape[0]
    cond = null_text.cat(null_text, text)  # branches: (∅, ∅), (∅, ref), (txt, ref)
    feats = {k: torch.cat([null_ref_features[k], ref_features[k], ref_features[k]]) for k in ref_features}
    tgt, rf = _cat_cams(target, 3), _cat_cams(refs, 3)
    reuse: dict[str, torch.Tensor] = {}
    x = noise * sched.init_noise_sigma
    for t in sched.timesteps:
        tt = torch.full((3 * b,), int(t), device=noise.device, dtype=torch.long)
        eps, _ = model(torch.cat([x] * 3), tt, cond, tgt, rf, feats, reuse=reuse)
        e_nn, e_nr, e_tr = eps.chunk(3)
        guided = e_nn + s_img * (e_nr - e_nn) + s_txt * (e_tr - e_nr)
        x = sched.step(guided, t, x).prev_sample
    return x
