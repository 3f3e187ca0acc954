"""The training objective (paper Section 3.3): masked diffusion loss + FeatureNeRF silhouette, background, RGB.

    L = L_diff + λ_fg L_fg + λ_bg L_bg + λ_rgb L_rgb          (λ = 10, 10, 5 in the released config)

* ``masked_diffusion_loss``: the ε-MSE inside the object mask dilated by a k x k max-pool (the background of the
  captures is not learned); regularisation samples have an all-ones mask;
* ``silhouette_loss``: mean (clamp(O, 0, 1) - M↓)² with the mask area-downsampled to the block's map;
* ``background_loss``: mean over rays and samples of |α_k - M↓| (1 - M↓) [M↓ < 0.1]: no density in front of the
  background;
* ``rgb_loss``: MSE of the rendered RGB against the image (in [0, 1]) inside M↓, divided by the mask sum at the
  block's resolution (``full_res_norm``: the official code divides by the full-resolution mask sum instead).

The rendering terms count only real (non-regularisation) samples and are averaged over the pose blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from customdiffusion360.nerf import NeRFOutput

__all__ = ["background_loss", "dilate", "downsample_mask", "masked_diffusion_loss", "rgb_loss", "silhouette_loss"]


def dilate(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """Binary dilation by a kernel x kernel square: (B, 1, H, W) -> (B, 1, H, W)."""
    if kernel <= 1:
        return mask
    return F.max_pool2d(mask, kernel, stride=1, padding=kernel // 2)


def downsample_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average a (B, 1, H, W) mask to (B, size * size) (row-major, the rays' order)."""
    return F.adaptive_avg_pool2d(mask, size).flatten(1)


def masked_diffusion_loss(eps_hat: torch.Tensor, eps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample masked mean of (ε̂ - ε)² over pixels and channels: (B, C, H, W), mask (B, 1, H, W) -> (B,)."""
    m = mask.expand_as(eps)
    return ((eps_hat - eps).pow(2) * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


def _size(out: NeRFOutput) -> int:
    return round(out.opacity.shape[1] ** 0.5)


def silhouette_loss(out: NeRFOutput, mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean over rays of (clamp(O) - M↓)²."""
    m = downsample_mask(mask, _size(out))
    return (out.opacity.clamp(0, 1) - m).pow(2).mean(1)


def background_loss(out: NeRFOutput, mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean over rays and samples of |α - M↓| (1 - M↓) [M↓ < 0.1]."""
    m = downsample_mask(mask, _size(out)).unsqueeze(-1)  # (B, P, 1)
    return ((out.alpha - m).abs() * (1 - m) * (m < 0.1)).mean((1, 2))


def rgb_loss(out: NeRFOutput, image01: torch.Tensor, mask: torch.Tensor, full_res_norm: bool = False) -> torch.Tensor:
    """(B,) masked MSE of the rendered RGB against the image in [0, 1] downsampled to the block's map."""
    s = _size(out)
    img = F.adaptive_avg_pool2d(image01, s).flatten(2).transpose(1, 2)  # (B, P, 3)
    m = downsample_mask(mask, s).unsqueeze(-1)  # (B, P, 1)
    err = ((out.rgb - img).pow(2) * m).sum((1, 2))
    norm = mask.flatten(1).sum(1) if full_res_norm else m.flatten(1).sum(1)
    return err / (3 * norm).clamp_min(1.0)
