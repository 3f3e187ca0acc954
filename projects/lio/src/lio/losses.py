"""The two self-supervised objectives of LIO (Zhou et al., CVPR 2020), pure tensor functions.

Object-Extent Learning (Sec. 3.1, Eq. 2-4)
    phi_ij(I, I') = 1/C * max_{i'j'} <f(I)_ij, f(I')_i'j'>               (Eq. 2: raw dot products, no normalisation)
    M'_ij(I)      = 1/K * sum_{I' in positives(I)} phi_ij(I, I')           (Eq. 3: the pseudo-mask)
    L_oel         = mean_ij (m_ij(I) - M'_ij(I))^2                         (Eq. 4: regression of the mask head)

Spatial Context Learning (Sec. 3.2, Eq. 5-9)
    b  = [m > mean(m)]                              the object region from the OEL mask
    o  = argmax_ij m_ij  (Eq. 6; the official code: argmax of the masked structure response, ``centre="structure"``)
    d_ij = ||(i,j) - o|| / (sqrt(2) N)  in [0, 1]   (official: / N, ``distance_norm="N"``)
    theta_ij = (atan2(dcol, drow) / pi + 1) / 2 in (0, 1]
    L_scl = distance error + rotation-invariant angle error over the object cells (module docstring of scl_loss).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "choose_centre",
    "correlation",
    "group_indices",
    "object_region",
    "oel_loss",
    "polar_targets",
    "pseudo_masks",
    "scl_loss",
]


def correlation(fa: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """phi(I, I') of Eq. 2: ``fa`` (..., C, H, W), ``fp`` (..., C, H', W') -> (..., H, W)."""
    c = fa.shape[-3]
    a = fa.flatten(-2).transpose(-1, -2)  # (..., HW, C)
    p = fp.flatten(-2)  # (..., C, H'W')
    sim = a @ p / c  # (..., HW, H'W')
    return sim.amax(dim=-1).unflatten(-1, fa.shape[-2:])  # (..., H, W)


def group_indices(
    n_groups: int, group_size: int, grouping: Literal["paper", "official"] = "paper", device: torch.device | None = None
) -> torch.Tensor:
    """Indices (G, 1+K) into a batch laid out as [a0, a0p1..a0pK, a1, a1p1.., ...] (our sampler's layout).

    ``paper``: each row is an anchor with its own positives. ``official`` reproduces the released code: the batch is
    re-ordered to [all anchors, positive 1 of every anchor, positive 2 of every anchor, ...] and then cut into
    consecutive rows of 1+K, so that a row holds 1+K *different* anchors (or positives), mostly of other classes.
    """
    idx = torch.arange(n_groups * group_size, device=device).view(n_groups, group_size)  # paper
    if grouping == "paper":
        return idx
    if grouping != "official":
        raise ValueError(f"unknown oel grouping {grouping!r}")
    official_order = idx.t().reshape(-1)  # [a0, a1, ..., then p1 of every anchor, ...]
    return official_order.view(n_groups, group_size)


def pseudo_masks(f: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """M'(I) of Eq. 3 for every image: the mean of phi(I, I') over the other members I' of its group.

    ``f`` (N, C, H, W) post-ReLU stage features; ``groups`` (G, M) indices (every image once). Returns (N, H, W).
    """
    g, m = groups.shape
    fg = f[groups.reshape(-1)].view(g, m, *f.shape[1:])  # (G, M, C, H, W)
    a = fg.flatten(-2).transpose(-1, -2)  # (G, M, HW, C)
    p = fg.flatten(-2)  # (G, M, C, HW)
    sim = torch.einsum("gaxc,gbcy->gabxy", a, p) / f.shape[1]  # (G, M, M, HW, HW)
    phi = sim.amax(dim=-1)  # (G, M, M, HW): phi(I_a, I_b) per cell of I_a
    off_diag = ~torch.eye(m, dtype=torch.bool, device=f.device)  # an image is not its own positive
    masks = (phi * off_diag[None, :, :, None]).sum(dim=2) / (m - 1)  # (G, M, HW)
    out = torch.empty(f.shape[0], f.shape[-2] * f.shape[-1], dtype=f.dtype, device=f.device)
    out[groups.reshape(-1)] = masks.reshape(g * m, -1)
    return out.view(f.shape[0], *f.shape[-2:])


def oel_loss(m: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 4: mean squared error between the predicted mask m (N, H, W) and the pseudo-mask M' (N, H, W)."""
    return F.mse_loss(m, target)


def object_region(m: torch.Tensor) -> torch.Tensor:
    """b = [m > mean(m)] per image: (N, H, W) -> bool (N, H, W)."""
    return m > m.flatten(1).mean(dim=1)[:, None, None]


def choose_centre(
    m: torch.Tensor, h: torch.Tensor, region: torch.Tensor, centre: Literal["oel", "structure"] = "oel"
) -> torch.Tensor:
    """The object centre o (N, 2) as (row, col) grid indices.

    ``oel`` (Eq. 6): the cell of maximal OEL response m. ``structure`` (official code): the cell of maximal
    channel-mean structure response h inside the region b.
    """
    if centre == "oel":
        score = m
    elif centre == "structure":
        score = (h.mean(dim=1) * region).masked_fill(~region, float("-inf"))  # (N, H, W)
    else:
        raise ValueError(f"unknown centre {centre!r}")
    flat = score.flatten(1).argmax(dim=1)  # (N,)
    w = m.shape[-1]
    return torch.stack([flat // w, flat % w], dim=1)


def polar_targets(
    centre: torch.Tensor, size: tuple[int, int], distance_norm: Literal["sqrt2N", "N"] = "sqrt2N"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Polar coordinates of every cell relative to ``centre`` (N, 2) on an (H, W) grid: d (N, H, W), theta (N, H, W).

    Delta = ((i, j) - o) / N; d = ||Delta|| / sqrt(2) (paper: d in [0, 1]) or ||Delta|| (official);
    theta = (atan2(Delta_col, Delta_row) / pi + 1) / 2.
    """
    h, w = size
    n = max(h, w)
    rows = torch.arange(h, device=centre.device, dtype=torch.float32)[:, None].expand(h, w)
    cols = torch.arange(w, device=centre.device, dtype=torch.float32)[None, :].expand(h, w)
    dr = (rows[None] - centre[:, 0, None, None].float()) / n  # (N, H, W)
    dc = (cols[None] - centre[:, 1, None, None].float()) / n
    d = torch.sqrt(dr**2 + dc**2)
    if distance_norm == "sqrt2N":
        d = d / math.sqrt(2.0)
    elif distance_norm != "N":
        raise ValueError(f"unknown distance_norm {distance_norm!r}")
    theta = (torch.atan2(dc, dr) / math.pi + 1) / 2
    return d, theta


def scl_loss(
    d_hat: torch.Tensor,
    theta_hat: torch.Tensor,
    d: torch.Tensor,
    theta: torch.Tensor,
    region: torch.Tensor,
    reduction: Literal["paper", "official"] = "paper",
) -> torch.Tensor:
    """SCL loss on predictions/targets (N, H, W) and the object region b (N, H, W, bool).

    ``paper``: mean over the object cells of (d_hat - d)^2 plus the rotation-invariant angle error: the angular
    residual g = theta_hat - theta minus its circular mean over the object cells, wrapped to [-1/2, 1/2) (only relative
    angles matter, so adding a constant to every theta_hat leaves the loss unchanged).
    ``official``: g = theta_hat - theta with g < 0 -> g + 1, g_bar = mean of g over *all* cells, per-cell loss
    (d_hat - d)^2 + (g - g_bar)^2 multiplied by b and averaged over every cell of the batch (zeros included).
    """
    b = region.float()
    g = theta_hat - theta  # (N, H, W)
    if reduction == "official":
        g = torch.where(g < 0, g + 1, g)
        g_bar = g.flatten(1).mean(dim=1)[:, None, None]
        return (((d_hat - d) ** 2 + (g - g_bar) ** 2) * b).mean()
    if reduction != "paper":
        raise ValueError(f"unknown scl reduction {reduction!r}")
    count = b.flatten(1).sum(dim=1).clamp_min(1.0)  # (N,)
    ang = 2 * math.pi * g
    s = (torch.sin(ang) * b).flatten(1).sum(dim=1)
    c = (torch.cos(ang) * b).flatten(1).sum(dim=1)
    g_bar = torch.atan2(s, c) / (2 * math.pi)  # circular mean over the object cells (N,)
    e = torch.remainder(g - g_bar[:, None, None] + 0.5, 1.0) - 0.5  # wrapped residual in [-1/2, 1/2)
    dist = ((d_hat - d) ** 2 * b).flatten(1).sum(dim=1) / count
    angle = (e**2 * b).flatten(1).sum(dim=1) / count
    return (dist + angle).mean()
