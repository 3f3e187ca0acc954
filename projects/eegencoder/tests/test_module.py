"""The objective (module.py) against values computed by hand, and the per-subject evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eegencoder.module import EEGEncoderModule

KW = dict(n_times=562, kernel_1=32, kernel_2=8, n_branches=2)


def test_label_smoothed_cross_entropy_by_hand() -> None:
    m = EEGEncoderModule(**KW, label_smoothing=0.2)
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
    logp = torch.log_softmax(logits, -1)[0]
    # smoothed target: 1 - 0.2 + 0.2/4 on the true class, 0.2/4 elsewhere
    expected = -(0.85 * logp[0] + 0.05 * (logp[1] + logp[2] + logp[3]))
    torch.testing.assert_close(m._ce(logits, torch.tensor([0])), expected)


def test_l2_penalty_by_hand() -> None:
    m = EEGEncoderModule(**KW, l2_conv=0.009, l2_transformer=0.5)
    groups = m.net.l2_groups()
    conv = sum(p.pow(2).sum() for p in groups["conv"])
    lin = sum(
        mod.weight.pow(2).sum() for mod in m.net.modules() if isinstance(mod, torch.nn.Linear)
    )  # includes the heads' weights, not their biases
    torch.testing.assert_close(m.l2_penalty(), 0.009 * conv + 0.5 * lin)
    assert float(EEGEncoderModule(**KW).l2_penalty()) == 0.0


def test_mixup_loss_is_the_convex_combination(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    m = EEGEncoderModule(**KW, mixup_alpha=0.4, dropout=0.0, attn_dropout=0.0).train()
    monkeypatch.setattr(np.random, "beta", lambda a, b: 0.7)
    x, y = torch.randn(6, 22, 562), torch.tensor([0, 1, 2, 3, 0, 1])
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    monkeypatch.setattr(torch, "randperm", lambda n, device=None: perm)
    loss, _out = m._classification_loss(x, y)
    torch.manual_seed(0)  # BN in train mode: compute the reference on the same mixed batch
    out_ref = m.net(0.7 * x + 0.3 * x[perm])
    expected = 0.7 * m._ce(out_ref, y) + 0.3 * m._ce(out_ref, y[perm])
    torch.testing.assert_close(loss, expected)


def test_deep_supervision_averages_fused_and_branch_losses() -> None:
    torch.manual_seed(0)
    m = EEGEncoderModule(**KW, deep_supervision=True).eval()
    x, y = torch.randn(4, 22, 562), torch.tensor([0, 1, 2, 3])
    loss, _out = m._classification_loss(x, y)
    fused, branches = m.net(x, return_branches=True)
    expected = (m._ce(fused, y) + m._ce(branches[:, 0], y) + m._ce(branches[:, 1], y)) / 3
    torch.testing.assert_close(loss, expected)


def test_double_softmax_reapplies_log_softmax() -> None:
    """With the official flag the loss is CE(log_softmax(softmax(z))) of the clean model's logits z, by hand."""
    torch.manual_seed(0)
    clean = EEGEncoderModule(**KW, label_smoothing=0.0).eval()
    m = EEGEncoderModule(**KW, double_softmax=True, label_smoothing=0.0).eval()
    m.load_state_dict(clean.state_dict())
    x, y = torch.randn(4, 22, 562), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():  # make the clean logits confident, so that the two losses differ clearly
        for b in list(clean.net.branches) + list(m.net.branches):
            b.head.weight.mul_(50.0)
    z = clean.net(x)
    loss, probs = m._classification_loss(x, y)
    torch.testing.assert_close(probs, z.softmax(-1))
    p = z.softmax(-1)
    by_hand = (-p[torch.arange(4), y] + torch.logsumexp(p, dim=-1)).mean()  # CE of probabilities used as logits
    torch.testing.assert_close(loss, by_hand)
    assert not torch.isclose(loss, clean._classification_loss(x, y)[0])
    assert float(loss) >= -1 + math.log(math.e + 3) - 1e-6  # the bound of CE on inputs in [0, 1], K = 4


def test_deep_supervision_rejected_for_baselines() -> None:
    with pytest.raises(ValueError, match="deep_supervision"):
        EEGEncoderModule(arch="eegnet", **KW, deep_supervision=True)
