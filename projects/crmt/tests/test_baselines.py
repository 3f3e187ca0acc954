"""The paper's Table 1 baselines as configs (issue 20, item 5): MMAT = JT trained on adversarial inputs, Mixup = JT
trained on mixup inputs; both keep the JT head (no margin term, no step 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from crmt.data import CRMTDataModule
from crmt.module import CRMTModule

ABLATIONS = Path(__file__).resolve().parents[1] / "configs" / "ablations"


def _module(name: str) -> CRMTModule:
    cfg = yaml.safe_load((ABLATIONS / name).read_text())
    assert cfg["trainer"]["max_epochs"] == cfg["model"].get("step1_epochs", 20)  # no step 2 to run
    torch.manual_seed(0)
    return CRMTModule(**cfg["model"])


@pytest.mark.parametrize("name", ["mmat.yaml", "mixup.yaml"])
def test_baselines_train_the_jt_head_on_their_inputs(name):
    module = _module(name)
    assert not module.is_crmt and module.schedule_epochs is None and module.hparams.rho == 0
    dm = CRMTDataModule(n_train=64, n_val=8, n_test=8, batch_size=64)
    dm.setup("fit")
    xs, y = next(iter(dm.train_dataloader()))
    module.train()
    torch.manual_seed(1)
    loss, _ = module.compute_step1_loss([x.clone() for x in xs], y)
    h, _ = module.net(xs)
    clean = F.cross_entropy(h, y)
    if name == "mmat.yaml":  # the attack raises the cross-entropy of the clean batch (inputs perturbed, not mixed)
        assert float(loss) > float(clean) + 1e-4
    else:  # mixup: the loss is λ CE(y) + (1-λ) CE(y[perm]) on mixed inputs, not the clean CE
        assert abs(float(loss) - float(clean)) > 1e-4
    module.zero_grad()
    loss.backward()
    assert module.net.head.fc.weight.grad.abs().sum() > 0
