"""Training objectives (paper Sec. 3, as reconstructed in the README): BPR, InfoNCE, L2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bpr_loss", "info_nce", "l2_reg"]


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """-mean log sigmoid(y_ui - y_uj); pos, neg (B,)."""
    return F.softplus(neg - pos).mean()


def info_nce(a: Tensor, b: Tensor, tau: float) -> Tensor:
    """InfoNCE with cosine similarity and in-batch negatives: a[n] <-> b[n] positive, b[m != n] negatives.

    l(a, b) = -log exp(s(a_n, b_n)/tau) / sum_m exp(s(a_n, b_m)/tau), averaged over n; a, b (N, d).
    """
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / tau  # (N, N)
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def l2_reg(*tables: Tensor) -> Tensor:
    """LightGCN-style L2 on the layer-0 rows of a batch: sum ||e||^2 / 2 / batch size."""
    n = tables[0].shape[0]
    return sum(t.pow(2).sum() for t in tables) / 2 / max(n, 1)
