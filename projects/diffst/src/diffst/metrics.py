"""Evaluation of super-resolved maps (Sec. 3): PCC, SSIM and RMSE per gene and patch, plus MSE and MAE.

Protocol (defaults): PCC = Pearson r on the raw maps; then both maps are min-max scaled to [0, 1] per patch and gene;
RMSE / MSE / MAE on the scaled maps; SSIM (Gaussian window sigma = 1.5, 11 x 11, data range 1) on the scaled maps.
Maps that are constant in the ground truth give no PCC (NaN, skipped in the means). The official variants are options:
``abs_pcc`` (|r|), ``ssim_uint8_225`` (SSIM on uint8(x * 225), the official typo for 255, data range 255) and
``skip_zeros`` (means over the non-zero entries only).
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

__all__ = ["METRICS", "baseline_upsample", "minmax", "per_map_metrics", "summarize"]

METRICS = ("pcc", "ssim", "rmse", "mse", "mae")


def minmax(x: torch.Tensor) -> torch.Tensor:
    """Min-max scale every (B, G) map of (B, G, H, W) to [0, 1]; constant maps become 0."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return torch.where(hi > lo, (x - lo) / (hi - lo).clamp(min=1e-12), torch.zeros_like(x))


def pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson r per (B, G) map; NaN where either map is constant."""
    p = pred.flatten(-2) - pred.flatten(-2).mean(-1, keepdim=True)
    t = target.flatten(-2) - target.flatten(-2).mean(-1, keepdim=True)
    den = p.pow(2).sum(-1).sqrt() * t.pow(2).sum(-1).sqrt()
    return torch.where(den > 0, (p * t).sum(-1) / den.clamp(min=1e-30), torch.full_like(den, float("nan")))


def _ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    b, g, h, w = pred.shape
    p, t = pred.reshape(b * g, 1, h, w).double(), target.reshape(b * g, 1, h, w).double()
    if min(h, w) > 11:  # the 11 x 11 Gaussian window (sigma 1.5) of Wang et al. / skimage
        val = structural_similarity_index_measure(
            p, t, gaussian_kernel=True, sigma=1.5, data_range=data_range, reduction="none"
        )
    else:  # maps smaller than the window: the largest odd uniform window that fits
        k = min(h, w) - 1
        k = k if k % 2 else k - 1
        val = structural_similarity_index_measure(
            p, t, gaussian_kernel=False, kernel_size=max(k, 1), data_range=data_range, reduction="none"
        )
    return val.view(b, g).float()


def per_map_metrics(
    pred: torch.Tensor, target: torch.Tensor, *, abs_pcc: bool = False, ssim_uint8_225: bool = False
) -> dict[str, torch.Tensor]:
    """``{metric: (B, G)}`` for predicted and ground-truth maps (B, G, H, W)."""
    pred, target = pred.float(), target.float()
    r = pearson(pred, target)
    r = r.abs() if abs_pcc else r
    p, t = minmax(pred), minmax(target)
    d = p - t
    mse = d.pow(2).mean(dim=(-2, -1))
    if ssim_uint8_225:
        ssim = _ssim((p * 225).to(torch.uint8).float(), (t * 225).to(torch.uint8).float(), 255.0)
    else:
        ssim = _ssim(p, t, 1.0)
    return {"pcc": r, "ssim": ssim, "rmse": mse.sqrt(), "mse": mse, "mae": d.abs().mean(dim=(-2, -1))}


def summarize(values: torch.Tensor, skip_zeros: bool = False) -> float:
    """Mean over finite entries (and non-zero ones with ``skip_zeros``, the official evaluation)."""
    v = values[torch.isfinite(values)]
    if skip_zeros:
        v = v[v != 0]
    return float(v.mean()) if v.numel() else float("nan")


def baseline_upsample(lr: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Nearest or bicubic upsampling of the (B, G, L, L) spot map to (B, G, size, size) (the paper's baselines)."""
    if mode == "nearest":
        return torch.nn.functional.interpolate(lr, size=(size, size), mode="nearest")
    return torch.nn.functional.interpolate(lr, size=(size, size), mode="bicubic", align_corners=False)
