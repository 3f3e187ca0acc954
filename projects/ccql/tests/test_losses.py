"""The objective's terms against values computed by hand, and the augmentations' padding invariant."""

from __future__ import annotations

import math

import pytest
import torch

from ccql.losses import augment, conservative_term, nt_xent, sample_negatives, td_target, weighted_ce


def test_td_target_by_hand() -> None:
    # main selects argmax_a Q_main(s', a) = item 1 in both rows; the target evaluates it: 20 and 5
    q_next_main = torch.tensor([[1.0, 3.0, 2.0], [0.0, 5.0, 1.0]])
    q_next_tgt = torch.tensor([[10.0, 20.0, 30.0], [4.0, 5.0, 6.0]])
    y = td_target(torch.tensor([0.2, 1.0]), torch.tensor([False, True]), q_next_main, q_next_tgt, gamma=0.5)
    torch.testing.assert_close(y, torch.tensor([0.2 + 0.5 * 20.0, 1.0]))  # the terminal row keeps only r


def test_conservative_term_by_hand() -> None:
    q = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    out = conservative_term(q, torch.tensor([0]), torch.tensor([[1, 3]]), temp=0.5)
    # A_s = {negatives 1 and 3: Q 2 and 0, the data action 0: Q 1, the greedy action 2: Q 3}
    expect = 0.5 * math.log(math.exp(2 / 0.5) + math.exp(0 / 0.5) + math.exp(1 / 0.5) + math.exp(3 / 0.5)) - 1.0
    assert out.item() == pytest.approx(expect, rel=1e-6)


def test_conservative_term_code_faithful_uses_the_index_as_q() -> None:
    q = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    out = conservative_term(q, torch.tensor([0]), torch.tensor([[1, 3]]), 0.5, code_faithful=True,
                            greedy_index=torch.tensor([3]))  # fmt: skip
    expect = 0.5 * math.log(math.exp(4.0) + math.exp(0.0) + math.exp(2.0) + math.exp(3 / 0.5)) - 1.0
    assert out.item() == pytest.approx(expect, rel=1e-6)


def test_conservative_term_pushes_q_of_negatives_down_and_data_up() -> None:
    q = torch.zeros(1, 6, requires_grad=True)
    conservative_term(q, torch.tensor([2]), torch.tensor([[0, 4]]), temp=0.5).sum().backward()
    g = q.grad[0]
    assert g[2] < 0 and g[0] > 0 and g[4] > 0  # gradient descent raises Q(data), lowers Q(negatives)


def test_nt_xent_by_hand() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    # cosine similarities: each vector 1 with its counterpart, 0 with the other pair; temperature 0.5
    expect = -math.log(math.exp(2.0) / (math.exp(2.0) + 2 * math.exp(0.0)))
    assert nt_xent(z, z.clone(), temp=0.5).item() == pytest.approx(expect, rel=1e-6)


def test_weighted_ce_is_per_sample_unless_batch_mean() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    a = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, a, reduction="none")
    w = torch.tensor([3.0, -1.0])
    assert weighted_ce(logits, a, w).item() == pytest.approx(((w * ce).mean()).item())
    assert weighted_ce(logits, a, w, batch_mean=True).item() == pytest.approx((w.mean() * ce.mean()).item())
    assert weighted_ce(logits, a, None).item() == pytest.approx(ce.mean().item())


def test_negatives_never_hit_the_data_action() -> None:
    a = torch.randint(0, 5, (2000,))
    neg = sample_negatives(a, 5, 10)
    assert not (neg == a[:, None]).any() and neg.min() >= 0 and neg.max() <= 4
    assert torch.bincount(neg[a == 0].flatten(), minlength=5)[1:].min() > 0  # every other item is drawn


PAD = 50


def _states(b: int = 300, length: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    n = torch.randint(1, length + 1, (b,), generator=g)
    items = torch.randint(0, PAD, (b, length), generator=g)
    state = torch.where(torch.arange(length)[None] < n[:, None], items, PAD)
    return state, n


@pytest.mark.parametrize("kind", ["permutation", "crop", "mask"])
def test_augmentations_never_move_padding_into_the_sequence(kind: str) -> None:
    state, n = _states()
    out, n2 = augment(state, n, PAD, kind, generator=torch.Generator().manual_seed(1))
    pos = torch.arange(state.shape[1])[None]
    inside = pos < n2[:, None]
    assert (out[~inside] == PAD).all(), "an item after the new length"
    assert not (out[inside] == PAD).any(), "a pad inside the sequence"
    assert (n2 >= 1).all() and (n2 <= n).all()
    if kind == "permutation":  # the same items, only reordered
        torch.testing.assert_close(out.sort(1).values, state.sort(1).values)
        assert (out != state).any()
    if kind == "crop":  # a contiguous window of the original
        for r in range(20):
            w = out[r, : n2[r]].tolist()
            orig = state[r, : n[r]].tolist()
            assert any(orig[i : i + len(w)] == w for i in range(len(orig) - len(w) + 1))
    if kind == "mask":
        assert ((out == state) | (out == PAD + 1)).all() and (out == PAD + 1).any()


def test_the_official_permutation_moves_padding_into_the_sequence() -> None:
    state, n = _states()
    out, n2 = augment(state, n, PAD, "permutation", code_faithful=True, generator=torch.Generator().manual_seed(1))
    inside = torch.arange(state.shape[1])[None] < n2[:, None]
    assert (out[inside] == PAD).any()  # the quirk the padding-aware default fixes
