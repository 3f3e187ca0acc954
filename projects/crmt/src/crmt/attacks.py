"""ℓ2 attacks on a two-modality classifier (paper Sec. 5.1 "attack methods"; official ``rob_test.py`` semantics).

* FGM: one step ``x' = x + ε g/‖g‖``; PGD-ℓ2: ``steps`` steps of size ``step_size·ε`` with the total perturbation
  projected back onto the ℓ2 ball of radius ε; no random start.
* Joint attack (every modality perturbed): the gradient is normalised jointly over the modalities and the projection
  is onto the joint ball. Uni-modal attack: only the attacked modality moves, normalised and projected on its own.
* Loss: cross-entropy (``ce``) or the CW margin ``max_{j≠y} h_j − h_y`` (``cw``); CE-PGD can be
  masked by the margin regulariser, so the evaluation reports both and their per-sample minimum.
* ``bounds``: optional per-modality (low, high) tensors in the normalised input space (images: (0−mean)/std and
  (1−mean)/std per channel); equivalent to un-normalise, clamp to [0, 1], re-normalise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["attack_loss", "l2_attack"]

Forward = Callable[[list[Tensor]], tuple[Tensor, list[Tensor]]]
Bounds = Sequence[tuple[Tensor, Tensor] | None] | None


def attack_loss(h: Tensor, y: Tensor, kind: str) -> Tensor:
    """Per-sample loss to maximise, shape (B,)."""
    if kind == "ce":
        return F.cross_entropy(h, y, reduction="none")
    if kind == "cw":
        other = h.masked_fill(F.one_hot(y, h.shape[1]).bool(), float("-inf")).amax(dim=1)
        return other - h.gather(1, y[:, None]).squeeze(1)
    raise ValueError(f"attack loss must be 'ce' or 'cw', got {kind!r}")


def _sq_norm(t: Tensor) -> Tensor:
    return t.flatten(1).pow(2).sum(dim=1)  # (B,)


def _expand(v: Tensor, like: Tensor) -> Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def l2_attack(
    forward: Forward,
    xs: Sequence[Tensor],
    y: Tensor,
    eps: float | Tensor,
    attacked: Sequence[int] | None = None,
    steps: int = 10,
    step_size: float = 0.25,
    loss: str = "cw",
    bounds: Bounds = None,
    box: float | None = None,
) -> list[Tensor]:
    """Return adversarial inputs ``[x'¹, …]`` with ``‖x' − x‖₂ ≤ ε`` over the attacked modalities.

    eps: a float or a per-sample tensor (B,); steps=1 with step_size=1 is FGM. ``box``: instead of the ℓ2 projection,
    clip each perturbation element to ±box·ε (the official CRMT-AT behaviour).
    """
    mods = list(range(len(xs))) if attacked is None else list(attacked)
    base = [x.detach() for x in xs]
    eps_t = torch.as_tensor(eps, dtype=base[0].dtype, device=base[0].device).expand(base[0].shape[0])  # (B,)
    delta = {m: torch.zeros_like(base[m]) for m in mods}
    joint = len(mods) > 1
    for _ in range(steps):
        for d in delta.values():
            d.requires_grad_(True)
        inputs = [base[m] + delta[m] if m in delta else base[m] for m in range(len(base))]
        h, _ = forward(inputs)
        grads = torch.autograd.grad(attack_loss(h, y, loss).sum(), [delta[m] for m in mods])
        with torch.no_grad():
            if joint:
                gnorm = sum(_sq_norm(g) for g in grads).sqrt().clamp_min(1e-12)  # (B,)
                norms = [gnorm] * len(mods)
            else:
                norms = [_sq_norm(g).sqrt().clamp_min(1e-12) for g in grads]
            new = {}
            for m, g, n in zip(mods, grads, norms):
                new[m] = delta[m].detach() + _expand(step_size * eps_t / n, g) * g
            if box is not None:
                for m in mods:
                    lim = _expand(box * eps_t, new[m])
                    new[m] = torch.maximum(torch.minimum(new[m], lim), -lim)
            else:
                total = sum(_sq_norm(d) for d in new.values()).sqrt()  # (B,) joint (or single-modality) norm
                scale = torch.where(total > eps_t, eps_t / total.clamp_min(1e-12), torch.ones_like(total))
                new = {m: d * _expand(scale, d) for m, d in new.items()}
            if bounds is not None:
                for m in mods:
                    if bounds[m] is not None:
                        lo, hi = bounds[m]
                        new[m] = torch.maximum(torch.minimum(base[m] + new[m], hi), lo) - base[m]
            delta = new
    return [(base[m] + delta[m]).detach() if m in delta else base[m] for m in range(len(base))]
