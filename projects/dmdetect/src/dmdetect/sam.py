"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) around a base optimiser (paper Sec. 3, "flatten the loss
landscape"; the official code imports a ``SAM_utils/sam.py`` that is missing from its repository, with the API of the
widely used davda54/sam: ``first_step``, ``second_step``, ``base_optimizer``, rho = 0.05 by default).

One SAM update, as :meth:`dmdetect.module.DMDetectModule.training_step` drives it under Lightning's manual
optimisation (DDP all-reduces the gradients of both backward passes, so every rank takes the same perturbation):

1. forward + backward at w (BatchNorm running statistics updated: the only update of this step);
2. :meth:`SAM.first_step`: w <- w + e, e = rho * g / ||g||_2 (global norm over all parameters; ``adaptive`` scales by
   |w| as in ASAM);
3. forward + backward at w + e with BatchNorm running statistics frozen (:func:`frozen_bn_stats`);
4. :meth:`SAM.step`: w <- w - e, then the base optimiser's step with the gradient taken at w + e.

``state_dict`` holds the base optimiser's state (AdamW moments) so that ``fit --ckpt_path last`` resumes exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["SAM", "frozen_bn_stats"]


class SAM(torch.optim.Optimizer):
    """SAM wrapping ``base_optimizer`` (built from the same parameters); ``param_groups`` are shared with it, so an LR
    scheduler attached to this object drives the base optimiser."""

    def __init__(
        self,
        params: Iterable[nn.Parameter] | Iterable[dict],
        base_optimizer: Callable[..., torch.optim.Optimizer],
        rho: float = 0.05,
        adaptive: bool = False,
    ) -> None:
        if rho < 0:
            raise ValueError(f"rho must be >= 0, got {rho}")
        super().__init__(params, {"rho": rho, "adaptive": adaptive})
        self.base_optimizer = base_optimizer(self.param_groups)
        self.param_groups = self.base_optimizer.param_groups
        for group in self.param_groups:
            group.setdefault("rho", rho)
            group.setdefault("adaptive", adaptive)
        self.defaults.update(self.base_optimizer.defaults)
        self.perturbed = False

    def _grad_norm(self) -> torch.Tensor:
        norms = [
            ((p.abs() if g["adaptive"] else 1.0) * p.grad).norm(p=2)
            for g in self.param_groups
            for p in g["params"]
            if p.grad is not None
        ]
        if not norms:
            return torch.zeros(())
        return torch.stack(norms).norm(p=2)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = True) -> None:
        """w <- w + rho * g / ||g|| (the ascent step); the offsets are kept to undo it."""
        norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                e = (p.pow(2) if group["adaptive"] else 1.0) * p.grad * scale.to(p)
                p.add_(e)
                self.state[p]["e_w"] = e
        self.perturbed = True
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """w <- w - e, then the base optimiser's step (with the gradient taken at w + e)."""
        if self.perturbed:
            for group in self.param_groups:
                for p in group["params"]:
                    e = self.state[p].pop("e_w", None)
                    if e is not None:
                        p.sub_(e)
        self.perturbed = False
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The update Lightning's ``optimizer.step()`` performs: :meth:`second_step` (after a :meth:`first_step`; a
        plain base-optimiser step without one, ``use_sam=False``). A closure (Lightning passes one, doing nothing, in
        manual optimisation) is evaluated once first, as torch optimisers do."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.second_step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base_optimizer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module) -> Iterator[None]:
    """BatchNorm running statistics left unchanged inside the block (momentum 0), restored afterwards, so that the
    second SAM pass at the perturbed weights does not update them a second time."""
    saved: list[tuple[nn.modules.batchnorm._BatchNorm, float | None, torch.Tensor | None]] = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            tracked = m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None
            saved.append((m, m.momentum, tracked))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
