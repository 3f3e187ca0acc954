"""Certified bounds (Eq. 10, JT bound), margin losses (Eq. 12, mixup) and the Lipschitz estimate."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from crmt.attacks import l2_attack
from crmt.certify import (
    crmt_radius,
    estimate_lipschitz,
    jt_radius,
    margin_regularizer,
    mixup_margin_regularizer,
    step1_loss,
)
from crmt.model import LinearEncoder, MultiModalNet


def test_crmt_radius_hand_computed_two_classes():
    a = torch.tensor([[1.0, 2.0], [0.5, 1.0]])  # (M, k)
    lip = torch.tensor([[1.0, 0.5], [2.0, 1.0]])
    h = torch.tensor([[3.0, 1.0], [3.0, 1.0]])
    y = torch.tensor([0, 1])
    # modality 0: a_0 τ_0 + a_1 τ_1 = 1·1 + 2·0.5 = 2; modality 1: 0.5·2 + 1·1 = 2; joint denominator sqrt(8)
    r = crmt_radius(h, a, lip, y)
    assert r.tolist() == pytest.approx([2 / math.sqrt(8), -2 / math.sqrt(8)])
    assert crmt_radius(h, a, lip, y, attacked=[0]).tolist() == pytest.approx([1.0, -1.0])
    a2 = torch.tensor([[1.0, 2.0], [3.0, 1.0]])  # modality 1: 3·2 + 1·1 = 7
    assert crmt_radius(h, a2, lip, y, attacked=[1])[0].item() == pytest.approx(2 / 7)
    assert crmt_radius(h, a2, lip, y)[0].item() == pytest.approx(2 / math.sqrt(4 + 49))


def test_crmt_radius_takes_min_over_classes_and_runner_up_option():
    a = torch.ones(1, 3)
    lip = torch.tensor([[1.0, 1.0, 10.0]])
    h = torch.tensor([[5.0, 1.0, 4.0]])  # margins 4 (den 2) and 1 (den 11); runner-up is class 2 either way
    y = torch.tensor([0])
    assert crmt_radius(h, a, lip, y).item() == pytest.approx(1 / 11)
    lip2 = torch.tensor([[1.0, 100.0, 1.0]])  # now class 1 (margin 4, den 101) is the min, runner-up still class 2
    assert crmt_radius(h, a, lip2, y).item() == pytest.approx(4 / 101)
    assert crmt_radius(h, a, lip2, y, j_mode="runner_up").item() == pytest.approx(1 / 2)


def test_jt_radius_hand_computed():
    lip_pair = torch.zeros(2, 2, 2)
    lip_pair[0, 0, 1] = lip_pair[0, 1, 0] = 3.0
    lip_pair[1, 0, 1] = lip_pair[1, 1, 0] = 4.0
    h = torch.tensor([[2.0, 0.5]])
    y = torch.tensor([0])
    assert jt_radius(h, lip_pair, y).item() == pytest.approx(1.5 / 5)
    assert jt_radius(h, lip_pair, y, attacked=[1]).item() == pytest.approx(1.5 / 4)


def test_margin_regularizer_hand_computed():
    o1 = torch.tensor([[1.0, 2.0, 0.0]])
    o2 = torch.tensor([[0.0, 0.0, 3.0]])
    y = torch.tensor([0])
    expected = math.log(math.exp(1) + math.exp(-1) + math.exp(0) + math.exp(3))
    assert margin_regularizer([o1, o2], y, eps=0).item() == pytest.approx(expected, rel=1e-6)
    with_eps = math.log(math.exp(1) + math.exp(-1) + math.exp(0) + math.exp(3) + 1e-5)
    assert margin_regularizer([o1, o2], y, eps=1e-5).item() == pytest.approx(with_eps, rel=1e-6)
    h = torch.tensor([[0.3, -0.2, 0.1]])
    loss = step1_loss(h, [o1, o2], y, rho=2.0, eps=0)
    assert loss.item() == pytest.approx(F.cross_entropy(h, y).item() + 2 * expected, rel=1e-6)


def test_mixup_margin_excludes_both_targets():
    o = torch.tensor([[1.0, 2.0, 0.5]])
    lam = 0.3
    reg = mixup_margin_regularizer([o], torch.tensor([0]), torch.tensor([1]), lam, eps=0)
    assert reg.item() == pytest.approx(0.5 - (0.3 * 1.0 + 0.7 * 2.0))
    same = mixup_margin_regularizer([o, o * 2], torch.tensor([2]), torch.tensor([2]), lam, eps=0)
    assert same.item() == pytest.approx(margin_regularizer([o, o * 2], torch.tensor([2]), eps=0).item())


def _linear_net(fusion: str, seed: int = 0) -> MultiModalNet:
    torch.manual_seed(seed)
    return MultiModalNet([LinearEncoder(5, 8), LinearEncoder(3, 8)], 4, fusion=fusion, a_init=1.0).eval()


@pytest.mark.parametrize("fusion", ["crmt", "concat"])
def test_lipschitz_estimate_is_exact_for_linear_encoders(fusion):
    net = _linear_net(fusion)
    if fusion == "crmt":
        with torch.no_grad():
            net.head.a.uniform_(0.5, 2.0)  # τ must not depend on a (the official get_lip bug)
    xs = [torch.randn(10, 5), torch.randn(10, 3)]
    per_class, pair = estimate_lipschitz(net, [xs], 4, pairwise=True, chunk=3)
    for m, enc in enumerate(net.encoders):
        if fusion == "crmt":
            w = net.head.normalized_weight(m)
        else:
            w = net.head.fc.weight.split([8, 8], dim=1)[m]
        wa = (w @ enc.lin.weight).detach()  # (k, d): the uni-modal logit map
        assert torch.allclose(per_class[m], wa.norm(dim=1), atol=1e-5)
        exact_pair = (wa[:, None, :] - wa[None, :, :]).norm(dim=2)
        assert torch.allclose(pair[m], exact_pair, atol=1e-4)


@pytest.mark.parametrize("fusion", ["crmt", "concat"])
def test_no_certified_sample_is_flipped_when_lipschitz_is_exact(fusion):
    """Linear encoders: τ̂ is exact, so PGD inside the certified ball never changes the prediction."""
    net = _linear_net(fusion, seed=1)
    if fusion == "crmt":
        with torch.no_grad():
            net.head.a.uniform_(0.2, 2.0)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(200, 5, generator=g), torch.randn(200, 3, generator=g)]
    per_class, pair = estimate_lipschitz(net, [xs], 4, pairwise=True)
    with torch.no_grad():
        h, _ = net(xs)
    y = h.argmax(1)  # every sample "correct", so each has a positive radius
    for attacked in (None, [0], [1]):
        if fusion == "crmt":
            r = crmt_radius(h, net.head.a.detach(), per_class, y, attacked)
        else:
            r = jt_radius(h, pair, y, attacked)
        assert (r > 0).all()
        for loss in ("cw", "ce"):
            adv = l2_attack(net, xs, y, 0.999 * r, attacked, steps=40, step_size=0.1, loss=loss)
            with torch.no_grad():
                flipped = net(adv)[0].argmax(1) != y
            assert not flipped.any(), f"{int(flipped.sum())} certified samples flipped ({fusion}, {attacked}, {loss})"
        if fusion == "concat" and attacked is not None:
            # the uni-modal JT bound is tight for a linear model: just outside the radius PGD mostly succeeds
            # (CW aims at the fused runner-up, which is not always the class that attains the minimum)
            adv = l2_attack(net, xs, y, 1.05 * r, attacked, steps=40, step_size=0.1, loss="cw")
            with torch.no_grad():
                assert (net(adv)[0].argmax(1) != y).float().mean() > 0.6


def test_pairwise_bound_of_a_crmt_head_is_exact_sound_and_no_looser_than_eq10():
    """The JT-style (pairwise) bound applied to a CRMT head: the constants of a_y o_y - a_j o_j are exact for linear
    encoders, no certified sample is flipped, and the radius is never smaller than the Eq. 10 (triangle) radius."""
    net = _linear_net("crmt", seed=2)
    with torch.no_grad():
        net.head.a.uniform_(0.2, 2.0)
    a = net.head.a.detach()
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(200, 5, generator=g), torch.randn(200, 3, generator=g)]
    per_class, pair = estimate_lipschitz(net, [xs], 4, pairwise=True, class_weights=a)
    for m, enc in enumerate(net.encoders):
        wa = a[m][:, None] * (net.head.normalized_weight(m) @ enc.lin.weight).detach()  # (k, d): a_c^m o_c^m
        assert torch.allclose(pair[m], (wa[:, None, :] - wa[None, :, :]).norm(dim=2), atol=1e-4)
    with torch.no_grad():
        h, _ = net(xs)
    y = h.argmax(1)
    r_pair, r_eq10 = jt_radius(h, pair, y), crmt_radius(h, a, per_class, y)
    assert (r_pair >= r_eq10 - 1e-5).all() and (r_pair > r_eq10 + 1e-3).any()
    adv = l2_attack(net, xs, y, 0.999 * r_pair, None, steps=40, step_size=0.1, loss="cw")
    with torch.no_grad():
        assert not (net(adv)[0].argmax(1) != y).any()
