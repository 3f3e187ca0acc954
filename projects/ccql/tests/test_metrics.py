"""Full-ranking HR/NDCG per group against a brute-force loop over rows and items."""

from __future__ import annotations

import math

import torch

from ccql.module import GROUPS, KS, RankingMetric


def test_ranking_metric_matches_a_loop() -> None:
    g = torch.Generator().manual_seed(0)
    n, c = 120, 30
    scores = torch.randint(0, 8, (n, c), generator=g).float()  # ties on purpose: counted pessimistically
    action = torch.randint(0, c, (n,), generator=g)
    buy = torch.rand(n, generator=g) < 0.3
    long = torch.rand(n, generator=g) < 0.5
    metric = RankingMetric()
    for part in torch.arange(n).split(50):  # several batches accumulate
        metric.update(scores[part], action[part], buy[part], long[part])
    got = metric.compute()
    rows = {name: [] for name in GROUPS}
    for i in range(n):
        s = scores[i].tolist()
        rank = sum(1 for j in range(c) if j != action[i] and s[j] >= s[action[i]])
        kind = "purchase" if buy[i] else "click"
        rows[kind].append(rank)
        if long[i]:
            rows[f"long_{kind}"].append(rank)
    for name, ranks in rows.items():
        assert got[f"{name}_n"] == len(ranks)
        for k in KS:
            hr = sum(r < k for r in ranks) / len(ranks)
            ndcg = sum(1 / math.log2(r + 2) for r in ranks if r < k) / len(ranks)
            assert math.isclose(float(got[f"{name}_hr@{k}"]), hr, rel_tol=1e-6), (name, k)
            assert math.isclose(float(got[f"{name}_ndcg@{k}"]), ndcg, rel_tol=1e-5), (name, k)
