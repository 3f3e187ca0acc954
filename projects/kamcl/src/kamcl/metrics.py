"""Ranking evaluation (README, "Evaluation"): full ranking and 1 positive + N sampled.

Ties are resolved pessimistically (items scoring *equal* to the held-out item rank above it), so a constant scorer
gets zero, not a lucky position. With one held-out item per user HR@K equals Recall@K; both are reported because the
literature uses both names (KMCLR: HR, KG-Mber: Recall).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paperkit.ranking import hr_ndcg, target_ranks

__all__ = ["full_ranking_ranks", "metrics_from_ranks", "rank_of_first", "sampled_ranks"]


rank_of_first = target_ranks  # 0-based, ties pessimistic: shared with ccql through paperkit.ranking


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
    per_k = hr_ndcg(ranks, ks)
    out = {}
    for k in ks:
        out[f"hr@{k}"] = per_k[f"hr@{k}"]
        out[f"recall@{k}"] = per_k[f"hr@{k}"]
        out[f"ndcg@{k}"] = per_k[f"ndcg@{k}"]
    return out
