"""Model: heads (concat / CRMT rownorm / CRMT full), encoders, shapes, gradients."""

from __future__ import annotations

import pytest
import torch

from crmt.model import CRMTHead, MultiModalNet, ResNet18Encoder, build_encoder
from crmt.module import CRMTModule
from paperkit.testing import assert_all_params_get_grad


@pytest.mark.parametrize("orth", ["rownorm", "full"])
def test_crmt_head_rows(orth):
    torch.manual_seed(0)
    head = CRMTHead([16, 12], 4, orth=orth, a_init=0.1)
    for m in range(2):
        w = head.normalized_weight(m)  # (k, d)
        assert torch.allclose(w.norm(dim=1), torch.ones(4), atol=1e-4)
        assert torch.allclose(w.mean(dim=1), torch.zeros(4), atol=1e-5)
        if orth == "full":
            assert torch.allclose(w @ w.T, torch.eye(4), atol=1e-3)
    feats = [torch.randn(5, 16), torch.randn(5, 12)]
    h, outs = head(feats)
    manual = sum(head.a[m] * (feats[m] @ head.normalized_weight(m).T) for m in range(2)) + head.bias
    assert h.shape == (5, 4) and torch.allclose(h, manual, atol=1e-6)
    assert [o.shape for o in outs] == [(5, 4), (5, 4)]


def test_concat_head_unimodal_logits_sum_to_fused():
    torch.manual_seed(0)
    net = MultiModalNet([build_encoder("mlp", 6, 8, 5), build_encoder("mlp", 3, 8, 7)], 3, fusion="concat")
    h, outs = net([torch.randn(4, 6), torch.randn(4, 3)])
    assert torch.allclose(h, outs[0] + outs[1] + net.head.fc.bias, atol=1e-6)


@pytest.mark.parametrize("train_input", ["clean", "adversarial", "mixup"])
def test_every_parameter_gets_a_step1_gradient(train_input):
    torch.manual_seed(0)
    module = CRMTModule(n_classes=4, in_sizes=[16, 16], train_input=train_input)
    xs, y = [torch.randn(8, 16), torch.randn(8, 16)], torch.randint(0, 4, (8,))
    loss, h = module.compute_step1_loss(xs, y)
    assert h.shape == (8, 4)
    assert_all_params_get_grad(module, loss)


def test_step2_loss_only_reaches_a():
    torch.manual_seed(0)
    module = CRMTModule(n_classes=4, in_sizes=[16, 16])
    module.lip.fill_(1.0)
    xs, y = [torch.randn(8, 16), torch.randn(8, 16)], torch.randint(0, 4, (8,))
    loss, _ = module.compute_step2_loss(xs, y)
    loss.backward()
    for name, p in module.named_parameters():
        assert (p.grad is not None) == (name == "net.head.a"), name


def test_resnet_encoders_small_inputs():
    torch.manual_seed(0)
    audio = ResNet18Encoder(1, frames=False).eval()
    frames = ResNet18Encoder(2, frames=True).eval()
    assert audio(torch.randn(2, 1, 64, 32)).shape == (2, 512)
    assert frames(torch.randn(2, 2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError):
        build_encoder("vit", 3)


def test_step2_freezes_batchnorm_statistics(monkeypatch):
    """Step 2 trains only a: the encoders' BatchNorm running statistics must not move either (eval mode)."""
    torch.manual_seed(0)
    module = CRMTModule(n_classes=4, in_sizes=[1, 1], encoder_kinds=["resnet18_audio", "resnet18_audio"])
    module.lip.fill_(1.0)
    module.lip_ready.fill_(True)
    monkeypatch.setattr(CRMTModule, "in_step2", lambda self: True)
    module.train()
    module.on_train_epoch_start()  # the hook that enters step 2
    before = {k: v.clone() for k, v in module.state_dict().items() if "running" in k}
    assert before
    xs, y = [torch.randn(4, 1, 64, 32), torch.randn(4, 1, 64, 32)], torch.randint(0, 4, (4,))
    module.compute_step2_loss(xs, y)
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
