"""FeatureNeRF: volume rendering of reference-view UNet features along target-camera rays (paper Section 3.2).

Per pose-conditioned transformer block (feature width d, map h x w, N reference views, D samples per ray):

    target camera ──rays (h*w, one per feature pixel)──> D depths in [near, far] (stratified / importance)
        points (B, h*w, D, 3) ──project into N reference cameras──> grid_sample reference features  (B, N, hwD, d)
        [feature, PE(point in ref frame), PE(Plücker of the ray in ref frame)] ──Linear-SiLU-Linear──> (B, N, hwD, d)
        softmax over views of Linear([feature, PE(point in target frame), PE(ref origin in target frame)])
        ──> f (B, hwD, d) ──(3D text conditioning) f + attn2(LN(f), text)──> decoder Linear(d -> 1 + 3), zero-init
        σ = trunc_exp, rgb = sigmoid ──volume rendering (Eq. of NeRF)──> F (B, hw, d), opacity O, RGB, weights w

:func:`volume_render` and :func:`sample_pdf` are the pure functions (tested against values by hand);
:class:`FeatureNeRF` holds the block's trainable ``pose*`` modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from customdiffusion360.cameras import camera_centers, plucker, positional_encoding, project, rays_from_camera

__all__ = [
    "Cameras",
    "FeatureNeRF",
    "NeRFOutput",
    "sample_pdf",
    "sample_reference_features",
    "stratified_depths",
    "trunc_exp",
    "volume_render",
]


@dataclass
class Cameras:
    """A batch of PyTorch3D-convention cameras: R (..., 3, 3), T (..., 3), focal (..., 2), pp (..., 2) in NDC."""

    R: torch.Tensor
    T: torch.Tensor
    focal: torch.Tensor
    pp: torch.Tensor

    def flatten(self) -> Cameras:
        return Cameras(
            self.R.reshape(-1, 3, 3), self.T.reshape(-1, 3), self.focal.reshape(-1, 2), self.pp.reshape(-1, 2)
        )


@dataclass
class NeRFOutput:
    features: torch.Tensor  # (B, P, d) rendered features F
    opacity: torch.Tensor  # (B, P) O = sum_k w_k
    rgb: torch.Tensor  # (B, P, 3)
    alpha: torch.Tensor  # (B, P, D)
    weights: torch.Tensor  # (B, P, D)
    depths: torch.Tensor  # (B, P, D)


class _TruncExp(torch.autograd.Function):
    """exp(x) with the gradient of exp(clamp(x, max=15)) (Instant-NGP's density activation)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g * torch.exp(x.clamp(max=15))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    return _TruncExp.apply(x)


def stratified_depths(
    n_rays: tuple[int, ...],
    n_samples: int,
    near: float,
    far: float,
    generator: torch.Generator | None,
    train: bool,
    device: torch.device | None = None,
) -> torch.Tensor:
    """D depths per ray: one uniform draw inside each of D equal bins (training) or the bin centres: (*n_rays, D)."""
    edges = torch.linspace(near, far, n_samples + 1, device=device)  # (D+1,)
    lo, width = edges[:-1], edges[1:] - edges[:-1]
    u = (
        torch.rand(*n_rays, n_samples, generator=generator, device=device)
        if train
        else torch.full((*n_rays, n_samples), 0.5, device=device)
    )
    return lo + u * width  # (*n_rays, D)


def sample_pdf(
    bins: torch.Tensor,
    weights: torch.Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
    deterministic: bool = False,
) -> torch.Tensor:
    """Inverse-CDF sampling of the piecewise-constant density ``weights`` over ``bins`` (NeRF's hierarchical step).

    bins (..., K+1) edges, weights (..., K) -> samples (..., n_samples), sorted. ``deterministic``: evenly spaced u.
    """
    w = weights + 1e-5  # no zero-probability bins (NaN-free CDF)
    pdf = w / w.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), pdf.cumsum(-1)], -1).clamp(max=1.0)  # (..., K+1), monotone
    shape = (*cdf.shape[:-1], n_samples)
    if deterministic:
        u = torch.linspace(0.5 / n_samples, 1 - 0.5 / n_samples, n_samples, device=cdf.device).expand(shape)
    else:
        u = torch.rand(shape, generator=generator, device=cdf.device)
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)  # (..., n)
    c0, c1 = cdf.gather(-1, idx - 1), cdf.gather(-1, idx)
    b0, b1 = bins.gather(-1, idx - 1), bins.gather(-1, idx)
    t = (u - c0) / (c1 - c0).clamp_min(1e-8)
    return torch.sort(b0 + t * (b1 - b0), -1).values


def volume_render(
    sigma: torch.Tensor, depths: torch.Tensor, far: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """alpha_k = 1 - exp(-σ_k δ_k), T_k = exp(-Σ_{l<k} σ_l δ_l), w_k = alpha_k T_k (so Σ_k w_k = 1 - T_{D+1} <= 1).

    sigma, depths (..., D) sorted along the ray; δ_k = t_{k+1} - t_k and the last δ reaches ``far``.
    Returns (alpha, transmittance, weights), each (..., D).
    """
    delta = torch.cat([depths[..., 1:] - depths[..., :-1], (far - depths[..., -1:]).clamp_min(1e-4)], -1)
    tau = sigma * delta  # optical depth per segment
    alpha = 1.0 - torch.exp(-tau)
    trans = torch.exp(-torch.cat([torch.zeros_like(tau[..., :1]), tau.cumsum(-1)[..., :-1]], -1))
    return alpha, trans, alpha * trans


class FeatureNeRF(nn.Module):
    """The trainable 3D module of one pose-conditioned transformer block (every parameter is named ``pose_*``).

    Args:
        dim: the block's feature width d.
        n_samples: D samples per ray; near/far: depth range in normalised scene units (cameras at distance <= 1).
        pe_points / pe_points_min_exp, pe_rays / pe_rays_min_exp: positional-encoding frequencies 2^k pi.
        aggregation: ``softmax`` (learned view scores) or ``average`` (plain mean over views).
        clip_grid: NDC coordinates clipped to ±clip_grid before ``grid_sample`` (zero padding outside ±1).
    """

    def __init__(
        self,
        dim: int,
        n_samples: int = 24,
        near: float = 0.0,
        far: float = 2.0,
        pe_points: int = 16,
        pe_points_min_exp: int = -8,
        pe_rays: int = 8,
        pe_rays_min_exp: int = -4,
        aggregation: Literal["softmax", "average"] = "softmax",
        clip_grid: float = 1.2,
    ) -> None:
        super().__init__()
        self.dim, self.n_samples, self.near, self.far = dim, n_samples, near, far
        self.pe = (pe_points, pe_points_min_exp, pe_rays, pe_rays_min_exp)
        self.aggregation, self.clip_grid = aggregation, clip_grid
        pts_dim = 3 * (2 * pe_points + 1)
        ray_dim = 6 * (2 * pe_rays + 1) + 3  # PE of the Plücker coordinates + the raw direction
        self.pose_mlp = nn.Sequential(nn.Linear(dim + pts_dim + ray_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.pose_score = nn.Linear(dim + 2 * pts_dim, 1)
        self.pose_decoder = nn.Linear(dim, 4, bias=False)  # density + RGB, zero-init
        nn.init.zeros_(self.pose_decoder.weight)

    def _pe_points(self, x: torch.Tensor) -> torch.Tensor:
        return positional_encoding(x, self.pe[0], self.pe[1])

    def forward(
        self,
        target: Cameras,
        refs: Cameras,
        ref_features: torch.Tensor,
        hw: tuple[int, int],
        text_condition: Callable[[torch.Tensor], torch.Tensor] | None = None,
        prev_weights: tuple[torch.Tensor, torch.Tensor] | None = None,
        importance: bool = False,
        generator: torch.Generator | None = None,
        ref_valid: torch.Tensor | None = None,
    ) -> NeRFOutput:
        """target cameras (B), refs (B, N), ref_features (B, N, d, h, w) -> rendered features at the target view.

        ``prev_weights`` = (depths, weights) of the previous pose block in the same transformer: with ``importance``
        the D samples are drawn from that distribution instead of the stratified bins.
        """
        b, n, d = ref_features.shape[:3]
        train = self.training
        origins, dirs = rays_from_camera(
            target.R, target.T, target.focal, target.pp, *hw, jitter=generator if train else None
        )  # fmt: skip  (B, P, 3) each
        p = origins.shape[1]
        if importance and prev_weights is not None:
            prev_depths, prev_w = prev_weights  # (B, P', D'), resampled to this block's rays
            prev_depths, prev_w = _match_rays(prev_depths, p), _match_rays(prev_w, p)
            mids = 0.5 * (prev_depths[..., 1:] + prev_depths[..., :-1])
            bins = torch.cat(
                [prev_depths.new_full((b, p, 1), self.near), mids, prev_depths.new_full((b, p, 1), self.far)], -1
            )  # fmt: skip  (B, P, D'+1)
            depths = sample_pdf(bins, prev_w, self.n_samples, generator, deterministic=not train).detach()
        else:
            depths = stratified_depths((b, p), self.n_samples, self.near, self.far, generator, train, origins.device)
        pts = origins.unsqueeze(2) + depths.unsqueeze(-1) * dirs.unsqueeze(2)  # (B, P, D, 3)
        flat = pts.reshape(b, 1, p * self.n_samples, 3).expand(b, n, -1, 3)  # (B, N, PD, 3)
        sampled = sample_reference_features(flat, refs, ref_features, self.clip_grid, ref_valid)  # (B, N, PD, d)
        # per-view MLP with positional encodings in the reference frame
        pts_ref = flat @ refs.R + refs.T.unsqueeze(-2)  # (B, N, PD, 3)
        o_ref = origins.unsqueeze(1) @ refs.R + refs.T.unsqueeze(-2)  # (B, N, P, 3)
        d_ref = dirs.unsqueeze(1) @ refs.R  # (B, N, P, 3)
        ray_ref = plucker(o_ref, d_ref)  # (B, N, P, 6)
        ray_enc = torch.cat([positional_encoding(ray_ref, self.pe[2], self.pe[3]), d_ref], -1)  # (B, N, P, Er)
        ray_enc = ray_enc.repeat_interleave(self.n_samples, dim=2)  # (B, N, PD, Er)
        h_views = self.pose_mlp(torch.cat([sampled, self._pe_points(pts_ref), ray_enc], -1))  # (B, N, PD, d)
        # view aggregation
        if self.aggregation == "average":
            f = h_views.mean(1)  # (B, PD, d)
        else:
            pts_tgt = pts.reshape(b, -1, 3) @ target.R + target.T.unsqueeze(1)  # (B, PD, 3)
            ref_origin_tgt = camera_centers(refs.R, refs.T) @ target.R + target.T.unsqueeze(1)  # (B, N, 3)
            score_in = torch.cat(
                [
                    h_views,
                    self._pe_points(pts_tgt).unsqueeze(1).expand(b, n, -1, -1),
                    self._pe_points(ref_origin_tgt).unsqueeze(2).expand(b, n, p * self.n_samples, -1),
                ],
                -1,
            )  # fmt: skip  (B, N, PD, d + 2 Ep)
            attn = self.pose_score(score_in).softmax(dim=1)  # (B, N, PD, 1) softmax over views
            f = (attn * h_views).sum(1)  # (B, PD, d)
        if text_condition is not None:
            f = text_condition(f)  # 3D text conditioning: f + attn2(LN(f), text), frozen
        out = self.pose_decoder(f).reshape(b, p, self.n_samples, 4)  # (B, P, D, 4)
        sigma, rgb = trunc_exp(out[..., 0]), torch.sigmoid(out[..., 1:])  # (B, P, D), (B, P, D, 3)
        alpha, _trans, weights = volume_render(sigma, depths, self.far)  # (B, P, D) each
        f = f.reshape(b, p, self.n_samples, d)
        return NeRFOutput(
            features=(weights.unsqueeze(-1) * f).sum(2),  # (B, P, d), zero background
            opacity=weights.sum(-1),  # (B, P)
            rgb=(weights.unsqueeze(-1) * rgb).sum(2),  # (B, P, 3)
            alpha=alpha,
            weights=weights,
            depths=depths,
        )


def sample_reference_features(
    points: torch.Tensor,
    refs: Cameras,
    features: torch.Tensor,
    clip_grid: float = 1.2,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Project world points (B, N, P, 3) into the N reference cameras and sample their feature maps (B, N, d, h, w)
    bilinearly: (B, N, P, d). NDC (+x left, +y up) is negated for ``grid_sample`` and clipped to ±clip_grid; points
    outside the image read the zero padding."""
    b, n, d, h, w = features.shape
    xy, _z = project(points, refs.R, refs.T, refs.focal, refs.pp)  # (B, N, P, 2)
    grid = (-xy).clamp(-clip_grid, clip_grid).reshape(b * n, 1, -1, 2)  # grid_sample: +x right, +y down
    feats = features.reshape(b * n, d, h, w)
    if valid is not None:
        feats = feats * valid.reshape(b * n, 1, h, w)  # padding mask
    out = F.grid_sample(feats, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (BN, d, 1, P)
    return out.reshape(b, n, d, -1).transpose(-1, -2)


def _match_rays(x: torch.Tensor, p: int) -> torch.Tensor:
    """Per-ray tensors (B, P', D) of a block at another resolution, resampled to P rays (nearest)."""
    if x.shape[1] == p:
        return x
    b, q, k = x.shape
    s_in, s_out = round(q**0.5), round(p**0.5)
    img = x.transpose(1, 2).reshape(b, k, s_in, s_in)
    return F.interpolate(img, size=(s_out, s_out), mode="nearest").reshape(b, k, p).transpose(1, 2)
