"""Full-ranking recommendation metrics with one relevant item per row: ranks, HR@K and NDCG@K, vectorised.

``target_ranks(scores, target)`` is the 0-based rank of the target column in each row of ``scores`` (N, C), counted
pessimistically: every *other* item scoring equal to the target ranks above it, so a constant scorer earns zero rather
than a lucky first place. With a single relevant item, HR@K = [rank < K] and NDCG@K = [rank < K] / log2(rank + 2)
(the ideal DCG is 1). Everything is one tensor operation over the batch (CPU or GPU), no Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["hr_ndcg", "target_ranks"]


def target_ranks(scores: Tensor, target: Tensor) -> Tensor:
    """0-based rank of column ``target[n]`` in row ``n``: #(others > s) + #(others == s). scores (N, C), target (N,)."""
    s = scores.gather(1, target.long()[:, None])  # (N, 1)
    return (scores > s).sum(1) + (scores == s).sum(1) - 1  # (N,)


def hr_ndcg(ranks: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """Per-row ``hr@k`` and ``ndcg@k`` (float64) from 0-based ranks (N,), for every k in ``ks``."""
    r = ranks.to(torch.float64)
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = (r < k).to(torch.float64)
        out[f"hr@{k}"] = hit
        out[f"ndcg@{k}"] = hit / torch.log2(r + 2.0)
    return out
