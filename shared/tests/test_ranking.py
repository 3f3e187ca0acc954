"""paperkit.ranking against a brute-force loop over rows and items."""

from __future__ import annotations

import math

import torch

from paperkit.ranking import hr_ndcg, target_ranks


def _brute_rank(row: list[float], t: int) -> int:
    return sum(1 for j, v in enumerate(row) if j != t and v >= row[t])


def test_ranks_and_metrics_match_a_loop() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (50, 12), generator=g).float()  # many ties on purpose
    target = torch.randint(0, 12, (50,), generator=g)
    ranks = target_ranks(scores, target)
    expect = [_brute_rank(scores[i].tolist(), int(target[i])) for i in range(50)]
    assert ranks.tolist() == expect
    m = hr_ndcg(ranks, [1, 5])
    for i, r in enumerate(expect):
        assert m["hr@5"][i] == float(r < 5)
        assert math.isclose(float(m["ndcg@5"][i]), (1 / math.log2(r + 2)) if r < 5 else 0.0)
        assert m["hr@1"][i] == float(r == 0)


def test_constant_scores_rank_last() -> None:
    ranks = target_ranks(torch.zeros(3, 7), torch.tensor([0, 3, 6]))
    assert ranks.tolist() == [6, 6, 6]
