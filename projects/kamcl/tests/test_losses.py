"""BPR, InfoNCE and L2 against values computed by hand."""

import math

import torch

from kamcl.losses import bpr_loss, info_nce, l2_reg


def test_bpr_hand_values() -> None:
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
    expected = -(math.log(1 / (1 + math.exp(-1.0))) + math.log(0.5)) / 2
    assert math.isclose(float(bpr_loss(pos, neg)), expected, rel_tol=1e-6)


def test_info_nce_hand_values() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    tau = 0.5
    # cosine similarities: s(a0,b0)=1, s(a0,b1)=1/sqrt2, s(a1,b0)=0, s(a1,b1)=1/sqrt2
    r = 1 / math.sqrt(2)
    l0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(r / tau)))
    l1 = -math.log(math.exp(r / tau) / (math.exp(0.0) + math.exp(r / tau)))
    assert math.isclose(float(info_nce(a, b, tau)), (l0 + l1) / 2, rel_tol=1e-6)


def test_info_nce_perfect_alignment_beats_shuffled() -> None:
    x = torch.eye(4)
    assert info_nce(x, x, 0.1) < info_nce(x, x.roll(1, 0), 0.1)


def test_l2_reg() -> None:
    u, i = torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    assert math.isclose(float(l2_reg(u, i)), (1 + 4 + 1 + 9) / 2 / 2)
