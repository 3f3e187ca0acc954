"""The detector MLP (paper size, inputs) and SAM (Foret et al.) as the module drives it."""

from __future__ import annotations

import copy

import torch
from torch import nn

from dmdetect.model import Detector, DetectorConfig
from dmdetect.module import DMDetectModule
from dmdetect.sam import SAM, frozen_bn_stats


def test_paper_size_parameter_count_and_inputs() -> None:
    net = Detector(DetectorConfig())  # 768 + 768 -> 3 x 1536 -> 1
    n = sum(p.numel() for p in net.parameters())
    assert 7.0e6 < n < 7.2e6  # about 7.1 M (official DFADModel)
    img, txt = torch.randn(4, 768), torch.randn(4, 768)
    assert net.eval()(img, txt).shape == (4,)
    only_img = Detector(DetectorConfig(inputs="image")).eval()
    out = only_img(img, txt)
    torch.testing.assert_close(only_img(img, torch.randn(4, 768)), out)  # the caption is not read
    only_txt = Detector(DetectorConfig(inputs="text")).eval()
    torch.testing.assert_close(only_txt(torch.randn(4, 768), txt), only_txt(img, txt))
    acts = {type(m) for m in Detector(DetectorConfig(activation="leaky_relu")).modules()}
    assert nn.LeakyReLU in acts and nn.ReLU not in acts


def test_sam_second_gradient_is_taken_at_the_perturbed_weights() -> None:
    torch.manual_seed(0)
    w0 = torch.randn(5)
    x, y = torch.randn(8, 5), torch.randn(8)

    def loss_at(w: torch.Tensor) -> torch.Tensor:
        return ((x @ w - y) ** 2).mean() + (w**4).sum()  # not quadratic: the gradient changes with w

    w = nn.Parameter(w0.clone())
    rho, lr = 0.05, 0.1
    opt = SAM([w], lambda p: torch.optim.SGD(p, lr=lr), rho=rho)
    loss_at(w).backward()
    opt.first_step(zero_grad=True)
    loss_at(w).backward()
    opt.step()
    # by hand: g0 at w0, e = rho g0 / |g0|, g1 at w0 + e, w = w0 - lr g1
    v = w0.clone().requires_grad_(True)
    (g0,) = torch.autograd.grad(loss_at(v), v)
    u = (w0 + rho * g0 / g0.norm()).requires_grad_(True)
    (g1,) = torch.autograd.grad(loss_at(u), u)
    torch.testing.assert_close(w.detach(), w0 - lr * g1)
    assert not torch.allclose(w.detach(), w0 - lr * g0)  # differs from the plain step


def test_sam_state_dict_keeps_the_adamw_moments() -> None:
    w = nn.Parameter(torch.ones(3))
    opt = SAM([w], lambda p: torch.optim.AdamW(p, lr=1e-3), rho=0.05)
    (w**2).sum().backward()
    opt.first_step()
    (w**2).sum().backward()
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    w2 = nn.Parameter(w.detach().clone())
    opt2 = SAM([w2], lambda p: torch.optim.AdamW(p, lr=1e-3), rho=0.05)
    opt2.load_state_dict(sd)
    torch.testing.assert_close(opt2.base_optimizer.state[w2]["exp_avg"], opt.base_optimizer.state[w]["exp_avg"])


def test_frozen_bn_stats() -> None:
    bn = nn.BatchNorm1d(3).train()
    bn(torch.randn(8, 3))
    before = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    with frozen_bn_stats(bn):
        bn(torch.randn(8, 3) + 5)
    assert all(torch.equal(a, b) for a, b in zip(before, (bn.running_mean, bn.running_var, bn.num_batches_tracked)))
    assert bn.momentum == 0.1


def _batch(n: int = 32, d: int = 6) -> dict:
    g = torch.Generator().manual_seed(3)
    return {"image": torch.randn(n, d, generator=g), "text": torch.randn(n, d, generator=g),
            "label": (torch.arange(n) % 5 != 0).float(), "generator": torch.zeros(n, dtype=torch.long)}  # fmt: skip


def test_module_step_updates_batchnorm_statistics_once() -> None:
    """One SAM training step moves the running statistics exactly as one forward pass on the batch does."""
    import pytorch_lightning as pl

    m = DMDetectModule(image_dim=6, text_dim=6, hidden=16, dropout=0.0)
    ref = copy.deepcopy(m.net).train()
    batch = _batch()
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)  # fmt: skip
    loader = torch.utils.data.DataLoader([{k: v[i] for k, v in batch.items()} for i in range(32)], batch_size=32)
    trainer.fit(m, train_dataloaders=loader)
    with torch.no_grad():
        ref(batch["image"], batch["text"])  # one forward = one statistics update
    bns = [x for x in m.net.modules() if isinstance(x, nn.BatchNorm1d)]
    refs = [x for x in ref.modules() if isinstance(x, nn.BatchNorm1d)]
    for a, b in zip(bns, refs):
        torch.testing.assert_close(a.running_mean, b.running_mean)
        torch.testing.assert_close(a.running_var, b.running_var)
        assert int(a.num_batches_tracked) == 1
