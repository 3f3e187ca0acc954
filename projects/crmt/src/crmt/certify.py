"""Losses and certified bounds of CRMT (paper Sec. 3.2 "Certifiable robustness", Sec. 4.2 Eq. 10-12).

* :func:`margin_regularizer` — step-1 term ``log Σ_m Σ_{k≠y} exp(o_k^m − o_y^m)`` (Eq. 12), a smooth max of the
  negative uni-modal margins; :func:`mixup_margin_regularizer` — its corrected mixup form (CRMT-Mix).
* :func:`crmt_radius` — the CRMT bound (Eq. 10), valid for ``a ≥ 0``:
  ``r(x) = min_{j≠y} (h_y − h_j) / sqrt(Σ_m (a_y^m τ_y^m + a_j^m τ_j^m)²)``; a single attacked modality m uses the
  denominator ``a_y^m τ_y^m + a_j^m τ_j^m`` alone.
* :func:`jt_radius` — the JT bound: ``min_{j≠y} (h_y − h_j) / sqrt(Σ_m (τ_{yj}^m)²)`` with ``τ_{yj}^m`` the
  Lipschitz constant of the uni-modal margin ``o_y^m − o_j^m``.
* :func:`estimate_lipschitz` — τ̂ as the largest input-gradient norm of each uni-modal class logit (and, for JT, of
  each pairwise uni-modal margin) over a data set. This fixes the official ``get_lip`` (which differentiated the fused
  logit that already contains ``a``, zeroed the audio gradient before reading it and accumulated the visual one across
  classes): here ``torch.autograd.grad`` of ``o_c^m`` is taken for each class separately.

Radii are negative for misclassified samples. The estimate τ̂ is exact for linear encoders and an empirical
(lower) estimate of the true constant otherwise, so "certified" is only as sound as τ̂.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "crmt_radius",
    "estimate_lipschitz",
    "jt_radius",
    "margin_regularizer",
    "mixup_margin_regularizer",
    "step1_loss",
]


def _log_plus_eps(lse: Tensor, eps: float) -> Tensor:
    """``log(exp(lse) + eps)`` computed stably (the official code adds 1e-5 inside the log)."""
    if eps <= 0:
        return lse
    return torch.logaddexp(lse, torch.full_like(lse, math.log(eps)))


def margin_regularizer(outs: Sequence[Tensor], y: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-sample ``log(Σ_m Σ_{k≠y} exp(o_k^m − o_y^m) + eps)`` (Eq. 12), shape (B,)."""
    k = outs[0].shape[1]
    mask = F.one_hot(y, k).bool()  # (B, k)
    terms = [(o - o.gather(1, y[:, None])).masked_fill(mask, float("-inf")) for o in outs]  # M x (B, k)
    return _log_plus_eps(torch.logsumexp(torch.cat(terms, dim=1), dim=1), eps)


def mixup_margin_regularizer(outs: Sequence[Tensor], ya: Tensor, yb: Tensor, lam: float, eps: float = 1e-5) -> Tensor:
    """Corrected CRMT-Mix margin, shape (B,): ``log Σ_m Σ_{k∉{y_a,y_b}} exp(o_k^m − (λ o_{y_a}^m + (1−λ) o_{y_b}^m))``.

    The official code subtracts the raw logits of ``y_a`` and ``y_b`` from the sum of exponentials instead of
    excluding them; here both classes are excluded from the numerator.
    """
    k = outs[0].shape[1]
    mask = F.one_hot(ya, k).bool() | F.one_hot(yb, k).bool()  # (B, k)
    terms = []
    for o in outs:
        target = lam * o.gather(1, ya[:, None]) + (1.0 - lam) * o.gather(1, yb[:, None])  # (B, 1)
        terms.append((o - target).masked_fill(mask, float("-inf")))
    return _log_plus_eps(torch.logsumexp(torch.cat(terms, dim=1), dim=1), eps)


def step1_loss(h: Tensor, outs: Sequence[Tensor], y: Tensor, rho: float, eps: float = 1e-5) -> Tensor:
    """Eq. 12: ``CE(h, y) + ρ · margin_regularizer`` averaged over the batch."""
    loss = F.cross_entropy(h, y)
    if rho > 0:
        loss = loss + rho * margin_regularizer(outs, y, eps).mean()
    return loss


def _min_ratio(margin: Tensor, den: Tensor, y: Tensor, j_mode: str, h: Tensor) -> Tensor:
    """``min_{j≠y} margin_j / den_j`` (or at the fused runner-up ``j = argmax_{k≠y} h_k``, the official step 2)."""
    k = margin.shape[1]
    ratio = torch.where(den > 0, margin / den.clamp_min(1e-30), torch.where(margin > 0, torch.inf, -torch.inf))
    own = F.one_hot(y, k).bool()
    ratio = ratio.masked_fill(own, torch.inf)
    if j_mode == "min":
        return ratio.min(dim=1).values
    if j_mode == "runner_up":
        j = h.detach().masked_fill(own, float("-inf")).argmax(dim=1)
        return ratio.gather(1, j[:, None]).squeeze(1)
    raise ValueError(f"j_mode must be 'min' or 'runner_up', got {j_mode!r}")


def crmt_radius(
    h: Tensor,
    a: Tensor,
    lip: Tensor,
    y: Tensor,
    attacked: Sequence[int] | None = None,
    j_mode: str = "min",
) -> Tensor:
    """CRMT certified radius (Eq. 10), shape (B,).

    h: fused logits (B, k); a: (M, k), must be ≥ 0; lip: τ (M, k) per modality and class; attacked: modalities that
    may be perturbed (None = all, the joint ℓ2 bound).
    """
    margin = h.gather(1, y[:, None]) - h  # (B, k): h_y − h_j
    at = a * lip  # (M, k): a_c^m τ_c^m
    per_mod = at[:, y].T[:, :, None] + at[None, :, :]  # (B, M, k): a_y τ_y + a_j τ_j
    mods = list(range(a.shape[0])) if attacked is None else list(attacked)
    den = per_mod[:, mods].pow(2).sum(dim=1).sqrt()  # (B, k)
    return _min_ratio(margin, den, y, j_mode, h)


def jt_radius(h: Tensor, lip_pair: Tensor, y: Tensor, attacked: Sequence[int] | None = None) -> Tensor:
    """JT certified radius, shape (B,). lip_pair: (M, k, k) with ``[m, y, j]`` = Lipschitz constant of o_y^m − o_j^m."""
    margin = h.gather(1, y[:, None]) - h  # (B, k)
    mods = list(range(lip_pair.shape[0])) if attacked is None else list(attacked)
    tau = lip_pair[mods][:, y].permute(1, 0, 2)  # (B, |mods|, k)
    den = tau.pow(2).sum(dim=1).sqrt()  # (B, k)
    return _min_ratio(margin, den, y, "min", h)


def _flat_norm(g: Tensor) -> Tensor:
    return g.flatten(1).norm(dim=1)


@torch.enable_grad()
def estimate_lipschitz(
    net: torch.nn.Module,
    batches: Iterable[Sequence[Tensor]],
    n_classes: int,
    pairwise: bool = False,
    chunk: int | None = None,
    class_weights: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """τ̂ = max over the samples of ``‖∇_{x^m} o_c^m(x)‖₂`` for every modality m and class c.

    ``net`` maps ``[x¹, …, x^M]`` to ``(h, [o¹, …, o^M])`` and must be in eval mode (samples then do not interact, so
    the gradient of the batch sum is the per-sample gradient). ``batches`` yields lists of modality tensors on the
    net's device. Returns ``(per_class (M, k), pairwise (M, k, k) or None)``; the pairwise constant of the margin
    ``o_y^m − o_j^m`` uses the per-sample gradients of all classes (memory ``k · chunk · dim``; ``chunk`` splits
    batches). ``class_weights`` (M, k) scales each uni-modal logit in the *pairwise* constants, i.e. bounds the margin
    ``w_y^m o_y^m − w_j^m o_j^m``: with the CRMT weights ``a`` this is the tight (JT-style) bound of a CRMT head, whose
    fused margin is ``Σ_m (a_y^m o_y^m − a_j^m o_j^m) + b_y − b_j``.
    """
    n_mod = None
    per_class: Tensor | None = None
    pair: Tensor | None = None
    for xs in batches:
        n = xs[0].shape[0]
        step = n if chunk is None else max(1, chunk)
        for s in range(0, n, step):
            inputs = [x[s : s + step].detach().clone().requires_grad_(True) for x in xs]
            _, outs = net(inputs)
            if n_mod is None:
                n_mod = len(outs)
                per_class = torch.zeros(n_mod, n_classes, device=outs[0].device)
                pair = torch.zeros(n_mod, n_classes, n_classes, device=outs[0].device) if pairwise else None
            grads: list[list[Tensor]] = [[] for _ in range(n_mod)]  # [m][c] -> (b, D_m)
            for c in range(n_classes):
                # o_c^m depends on x^m only, so one backward of Σ_m Σ_b o_c^m gives every modality's gradient.
                total = sum(o[:, c].sum() for o in outs)
                gs = torch.autograd.grad(total, inputs, retain_graph=c < n_classes - 1, allow_unused=True)
                for m, g in enumerate(gs):
                    g = torch.zeros_like(inputs[m]) if g is None else g
                    per_class[m, c] = torch.maximum(per_class[m, c], _flat_norm(g).max())
                    if pairwise:
                        grads[m].append(g.flatten(1).detach())
            if pairwise:
                for m in range(n_mod):
                    g = torch.stack(grads[m], dim=1)  # (b, k, D)
                    if class_weights is not None:
                        g = g * class_weights[m].to(g)[None, :, None]
                    gram = g @ g.transpose(1, 2)  # (b, k, k)
                    diag = gram.diagonal(dim1=1, dim2=2)  # (b, k)
                    sq = (diag[:, :, None] + diag[:, None, :] - 2 * gram).clamp_min(0)
                    pair[m] = torch.maximum(pair[m], sq.sqrt().max(dim=0).values)
    if per_class is None:
        raise ValueError("estimate_lipschitz got no batches")
    return per_class.detach(), (pair.detach() if pair is not None else None)
