"""The paper's Table 1 baselines as configs (issue 20, item 5): MMAT = JT trained on adversarial inputs, Mixup = JT
trained on mixup inputs, MSEFM = JT + MinSim + a feature memory (our reading of Tian & Xu 2021); all keep the JT head
(no margin term, no step 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from crmt.cli import main
from crmt.data import CRMTDataModule
from crmt.model import FeatureMemory
from crmt.module import CRMTModule
from paperkit.errors import PaperkitError
from paperkit.testing import run_cli, tiny_trainer_args

ABLATIONS = Path(__file__).resolve().parents[1] / "configs" / "ablations"


def _module(name: str) -> CRMTModule:
    cfg = yaml.safe_load((ABLATIONS / name).read_text())
    # no step 2 to run; MSEFM's second stage is its feature-memory epochs
    assert cfg["trainer"]["max_epochs"] == cfg["model"].get("step1_epochs", 20) + cfg["model"].get("memory_epochs", 0)
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


def test_msefm_loss_is_cross_entropy_plus_feature_similarity():
    """MinSim (Tian & Xu): CE + sim_weight · mean cos(f¹, f²), on the JT head; before the memory stage the features
    are the encoders' own."""
    module = _module("msefm.yaml")
    assert not module.is_crmt and module.schedule_epochs == 30 and module.hparams.sim_weight == 1.0
    assert module.net.memories is not None and not module.memory_ready
    dm = CRMTDataModule(n_train=64, n_val=8, n_test=8, batch_size=64)
    dm.setup("fit")
    xs, y = next(iter(dm.train_dataloader()))
    loss, _ = module.compute_step1_loss(xs, y)
    fa, fb = (enc(x) for enc, x in zip(module.net.encoders, xs))
    expected = F.cross_entropy(module.net.head.fc(torch.cat([fa, fb], 1)), y) + F.cosine_similarity(fa, fb).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    with pytest.raises(ValueError, match="two modalities"):
        CRMTModule(fusion="concat", rho=0.0, step2_epochs=0, sim_weight=1.0, train_input="mixup")
    with pytest.raises(ValueError, match="memory_size"):
        CRMTModule(fusion="concat", rho=0.0, step2_epochs=0, memory_epochs=2)


def test_feature_memory_solves_the_lasso_and_mixes():
    """ISTA codes satisfy the lasso's optimality conditions, min_A ½‖f − A Dᵀ‖² + λ‖A‖₁: |Dᵀr| ≤ λ on zero codes and
    Dᵀr = λ·sign(A) on the others (r = the residual); the output is mix · A Dᵀ + (1 − mix) · f; identity until
    filled."""
    torch.manual_seed(0)
    mem = FeatureMemory(dim=5, size=7, lam=0.1, mix=0.4, iters=5000)
    f = torch.randn(3, 5)
    assert torch.equal(mem(f), f)  # empty memory: identity
    mem.fill(torch.randn(7, 5))
    a = mem.codes(f)
    grad = (f - a @ mem.memory.T) @ mem.memory  # Dᵀr per sample (B, N)
    nz = a != 0
    assert nz.any() and (~nz).any()
    assert torch.allclose(grad[nz], 0.1 * a.sign()[nz], atol=1e-4)
    assert (grad[~nz].abs() <= 0.1 + 1e-4).all()
    assert torch.allclose(mem(f), 0.4 * (a @ mem.memory.T) + 0.6 * f, atol=1e-6)


def test_msefm_fills_the_memory_at_the_switch_and_is_tested_through_it(tmp_path):
    cfg = str(ABLATIONS / "msefm.yaml")
    small = ["--data.n_train=256", "--data.n_val=64", "--data.n_test=64", "--data.batch_size=64",
             "--model.pgd_steps=2", "--model.eval_curve=false", "--model.memory_size=32"]  # fmt: skip
    args = ["train", "--config", cfg, *small, "--model.step1_epochs=1", "--model.memory_epochs=1",
            *tiny_trainer_args(trainer__max_epochs=2)]  # fmt: skip
    run = run_cli(main, args, tmp_path, "crmt")
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    for m in range(2):
        assert bool(state[f"net.memories.{m}.ready"]) and state[f"net.memories.{m}.memory"].shape == (32, 32)
        assert state[f"net.memories.{m}.memory"].abs().sum() > 0 and float(state[f"net.memories.{m}.step"]) > 0
    assert (run / "test_metrics.json").is_file() and bool(state["lip_ready"])
    # a model that never reached its memory stage is not tested as MSEFM
    module = CRMTModule(fusion="concat", rho=0.0, step2_epochs=0, memory_size=8, memory_epochs=1)
    with pytest.raises(PaperkitError, match="feature-memory stage"):
        module.on_test_start()
