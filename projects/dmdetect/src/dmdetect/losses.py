"""The paper's objective (Sec. 3, "Loss"): L = gamma * CVaR_alpha(BCE) + (1 - gamma) * L_AUC.

* CVaR (Rockafellar-Uryasev): ``CVaR_alpha(l) = min_lambda lambda + (1 / alpha) * mean_i (l_i - lambda)_+``, the mean of
  the alpha-fraction of largest per-sample losses. The minimiser lambda* is the (1 - alpha)-quantile of the losses (the
  value at risk); it is computed exactly from the sorted, detached losses (the official code finds it numerically with
  ``scipy.optimize.fminbound``) and then held constant, so the gradient is
  ``(1 / alpha) mean_i 1[l_i > lambda*] grad l_i``.
  alpha = 1 gives the mean loss (ERM).
* AUC surrogate over all in-batch (generated i, real j) pairs: ``mean_{i in P, j in N} max(0, eta - (s_i - s_j))^p``,
  on the logits (official) or on sigmoid scores (option). A batch without one of the classes has no pairs: the term is
  then zero (with the graph kept), never NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["auc_loss", "cvar", "cvar_threshold", "detector_loss"]


def cvar_threshold(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """lambda* = argmin_lambda lambda + (1/alpha) mean (l - lambda)_+ : the (1 - alpha)-quantile of ``losses``.

    With n losses sorted ascending, the objective's slope ``1 - #{l_i > lambda} / (alpha n)`` turns non-negative at the
    sorted value of index ``ceil(n (1 - alpha)) - 1``, so that value is a minimiser (detached).
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    flat = losses.detach().flatten()
    n = flat.numel()
    k = max(0, math.ceil(n * (1.0 - alpha) - 1e-9) - 1)
    return flat.sort().values[k]


def cvar(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """CVaR_alpha of per-sample losses (B,), with lambda* as a constant."""
    lam = cvar_threshold(losses, alpha)
    # strictly above lambda*: a tie at the threshold gets no gradient (clamp_min would pass one)
    excess = torch.where(losses > lam, losses - lam, torch.zeros_like(losses))
    return lam + excess.mean() / alpha


def auc_loss(
    scores: torch.Tensor,
    labels: torch.Tensor,
    eta: float = 0.6,
    p: float = 2.0,
    on: Literal["logit", "sigmoid"] = "logit",
) -> torch.Tensor:
    """Pairwise AUC surrogate: mean over (generated, real) pairs of ``max(0, eta - (s_gen - s_real))^p``."""
    s = scores if on == "logit" else torch.sigmoid(scores)
    pos, neg = s[labels > 0.5], s[labels <= 0.5]
    if pos.numel() == 0 or neg.numel() == 0:
        return s.sum() * 0.0  # no pairs in this batch
    margin = (eta - (pos[:, None] - neg[None, :])).clamp_min(0)  # (|P|, |N|)
    return margin.pow(p).mean()


def detector_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    gamma: float = 0.5,
    alpha: float = 0.8,
    eta: float = 0.6,
    p: float = 2.0,
    auc_on: Literal["logit", "sigmoid"] = "logit",
) -> dict[str, torch.Tensor]:
    """``{"loss", "cvar", "auc", "bce"}`` for logits (B,) and labels (B,) in {0, 1} (1 = generated)."""
    bce = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")  # (B,)
    terms = {"bce": bce.mean()}
    total = logits.sum() * 0.0
    if gamma > 0:
        terms["cvar"] = cvar(bce, alpha)
        total = total + gamma * terms["cvar"]
    if gamma < 1:
        terms["auc"] = auc_loss(logits, labels, eta, p, auc_on)
        total = total + (1 - gamma) * terms["auc"]
    terms["loss"] = total
    return terms
