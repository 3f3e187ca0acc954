"""ℓ2 FGM/PGD: budgets, joint vs uni-modal normalisation, input bounds, the official box clip."""

from __future__ import annotations

import torch

from crmt.attacks import attack_loss, l2_attack
from crmt.model import MLPEncoder, MultiModalNet


def _setup():
    torch.manual_seed(0)
    net = MultiModalNet([MLPEncoder(6, 16, 8), MLPEncoder(4, 16, 8)], 3).eval()
    xs = [torch.randn(12, 6), torch.randn(12, 4)]
    y = torch.randint(0, 3, (12,))
    return net, xs, y


def _norm(t):
    return t.flatten(1).norm(dim=1)


def test_joint_attack_respects_joint_budget():
    net, xs, y = _setup()
    adv = l2_attack(net, xs, y, 0.3, None, steps=5, step_size=0.5, loss="cw")
    total = (_norm(adv[0] - xs[0]) ** 2 + _norm(adv[1] - xs[1]) ** 2).sqrt()
    assert (total <= 0.3 + 1e-5).all() and (total > 0.29).all()


def test_unimodal_attack_leaves_other_modality_and_fgm_step():
    net, xs, y = _setup()
    adv = l2_attack(net, xs, y, 0.7, [1], steps=1, step_size=1.0, loss="ce")
    assert torch.equal(adv[0], xs[0])
    assert torch.allclose(_norm(adv[1] - xs[1]), torch.full((12,), 0.7), atol=1e-5)


def test_attack_increases_loss_and_bounds_and_box():
    net, xs, y = _setup()
    before = attack_loss(net(xs)[0], y, "cw")
    adv = l2_attack(net, xs, y, 1.0, None, steps=10, step_size=0.25, loss="cw")
    assert (attack_loss(net(adv)[0], y, "cw") >= before - 1e-5).all()
    bounds = [(torch.tensor(-0.1), torch.tensor(0.1)), None]
    xs_small = [xs[0].clamp(-0.1, 0.1), xs[1]]
    adv = l2_attack(net, xs_small, y, 2.0, None, steps=3, step_size=0.5, bounds=bounds)
    assert adv[0].abs().max() <= 0.1 + 1e-6
    adv = l2_attack(net, xs, y, 0.1, None, steps=5, step_size=0.2, loss="ce", box=2.0)
    assert (adv[0] - xs[0]).abs().max() <= 0.2 + 1e-6
