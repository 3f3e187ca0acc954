"""Optimisation of the official recipe (run_classifier.py, train_s.sh): ``BertAdam`` and the ``warmup_linear`` schedule.

``BertAdam`` (pytorch-pretrained-bert): Adam **without bias correction**, decoupled weight decay, and gradient norm
clipping **per parameter tensor** (``max_grad_norm`` = 1.0). ``warmup_linear(x, w)`` = x / w for x < w, else 1 − x,
with x = step / total steps. torch's AdamW is *not* equivalent (bias correction, global clipping); both are offered.
"""

from __future__ import annotations

import torch

__all__ = ["BertAdam", "warmup_linear"]


def warmup_linear(x: float, warmup: float) -> float:
    """Official schedule multiplier at training progress x ∈ [0, 1]."""
    if warmup > 0 and x < warmup:
        return x / warmup
    return max(0.0, 1.0 - x)


class BertAdam(torch.optim.Optimizer):
    """Adam without bias correction, decoupled weight decay, per-tensor gradient clipping (the official optimiser)."""

    def __init__(
        self,
        params,
        lr: float = 1e-5,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        max_grad_norm: float = 1.0,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "max_grad_norm": max_grad_norm}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["next_m"] = torch.zeros_like(p)
                    state["next_v"] = torch.zeros_like(p)
                if group["max_grad_norm"] > 0:
                    torch.nn.utils.clip_grad_norm_(p, group["max_grad_norm"])  # per tensor, as in the official code
                m, v = state["next_m"], state["next_v"]
                m.mul_(b1).add_(grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                update = m / (v.sqrt() + group["eps"])  # no bias correction
                if group["weight_decay"] > 0:
                    update = update + group["weight_decay"] * p
                p.add_(update, alpha=-group["lr"])
        return loss
