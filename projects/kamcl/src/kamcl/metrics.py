"""Ranking evaluation (README, "Evaluation"): full ranking and 1 positive + N sampled.

Ties are resolved pessimistically (items scoring *equal* to the held-out item rank above it), so a constant scorer
gets zero, not a lucky position. With one held-out item per user HR@K equals Recall@K; both are reported because the
literature uses both names (KMCLR: HR, KG-Mber: Recall).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["full_ranking_ranks", "metrics_from_ranks", "rank_of_first", "sampled_ranks"]


def rank_of_first(scores: Tensor, pos: Tensor) -> Tensor:
    """0-based rank of column ``pos[n]`` in row n: #(others > s) + #(others == s). scores (N, C), pos (N,)."""
    s = scores.gather(1, pos[:, None])  # (N, 1)
    return (scores > s).sum(1) + (scores == s).sum(1) - 1


def full_ranking_ranks(scores: Tensor, pos: Tensor, mask_r: Tensor, mask_c: Tensor) -> Tensor:
    """Rank of the held-out item among all items after masking training positives (row-local indices)."""
    pos_scores = scores.gather(1, pos.clamp(min=0)[:, None]).squeeze(1)
    scores = scores.clone()
    scores[mask_r, mask_c] = float("-inf")
    scores.scatter_(1, pos.clamp(min=0)[:, None], pos_scores[:, None])  # the held-out item itself is never masked
    return rank_of_first(scores, pos.clamp(min=0))


def sampled_ranks(scores_pos: Tensor, scores_neg: Tensor) -> Tensor:
    """Rank of the positive among 1 + N sampled negatives. scores_pos (n,), scores_neg (n, N)."""
    return rank_of_first(
        torch.cat([scores_pos[:, None], scores_neg], 1), torch.zeros_like(scores_pos, dtype=torch.long)
    )


def metrics_from_ranks(
    ranks: Tensor, ks: list[int] | tuple[int, ...], valid: Tensor | None = None
) -> dict[str, Tensor]:
    """Per-user HR@K, Recall@K, NDCG@K (one held-out item). Users with ``valid == False`` are dropped."""
    if valid is not None:
        ranks = ranks[valid]
    r = ranks.to(torch.float64)
    out = {}
    for k in ks:
        hit = (r < k).to(torch.float64)
        out[f"hr@{k}"] = hit
        out[f"recall@{k}"] = hit
        out[f"ndcg@{k}"] = hit / torch.log2(r + 2.0) if len(r) else hit
    return out
