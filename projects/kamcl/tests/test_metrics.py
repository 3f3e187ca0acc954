"""Ranking metrics against hand-computed rankings; training positives are masked in full ranking."""

import math

import torch

from kamcl.metrics import full_ranking_ranks, metrics_from_ranks, rank_of_first, sampled_ranks


def test_rank_with_ties_is_pessimistic() -> None:
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1], [1.0, 1.0, 1.0, 1.0]])
    # row 0: item 0 (0.5): one higher (0.9), one tie (item 2) -> rank 2; row 1: all tied -> rank 3
    assert rank_of_first(scores, torch.tensor([0, 1])).tolist() == [2, 3]


def test_metrics_hand_computed() -> None:
    ranks = torch.tensor([0, 3, 12, 50])
    m = metrics_from_ranks(ranks, [10, 20, 40])
    assert m["hr@10"].mean().item() == 0.5
    assert m["recall@20"].mean().item() == 0.75
    assert m["hr@40"].mean().item() == 0.75
    expected = (1.0 + 1 / math.log2(5)) / 4
    assert math.isclose(m["ndcg@10"].mean().item(), expected, rel_tol=1e-9)
    expected20 = (1.0 + 1 / math.log2(5) + 1 / math.log2(14)) / 4
    assert math.isclose(m["ndcg@20"].mean().item(), expected20, rel_tol=1e-9)


def test_users_without_test_item_are_excluded() -> None:
    ranks = torch.tensor([0, 99, 5])
    valid = torch.tensor([True, False, True])
    m = metrics_from_ranks(ranks, [10], valid)
    assert m["hr@10"].tolist() == [1.0, 1.0]
    assert len(m["ndcg@10"]) == 2


def test_full_ranking_masks_training_positives() -> None:
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0], [5.0, 4.0, 3.0, 2.0]])
    pos = torch.tensor([2, 2])
    unmasked = full_ranking_ranks(scores, pos, torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    assert unmasked.tolist() == [2, 2]
    # user 0 bought items 0 and 1 in training: they leave the ranking; the held-out item is never masked
    ranks = full_ranking_ranks(scores, pos, torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]))
    assert ranks.tolist() == [0, 2]


def test_sampled_ranks() -> None:
    ranks = sampled_ranks(torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 2.0, 0.5], [0.0, -1.0, -2.0]]))
    assert ranks.tolist() == [1, 1]  # row 1: one tie ranks above the positive
