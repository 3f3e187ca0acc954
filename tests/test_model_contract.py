"""Workspace model contract: every Lightning project, built from its packaged default.yaml, on one batch.

As braindecode and timm test every model they ship, this runs over every project the workspace has (adding a project
adds its checks). One tiny ``fit`` per project (two training steps, into a temporary folder) provides the trained
module, its datamodule and ``last.ckpt``; then:

* ``loss_terms(batch)``: the objective is a finite scalar (its terms too), every trainable parameter receives a
  gradient from it, and ``training_step`` optimises exactly it;
* ``predict_outputs(batch)`` in eval mode: leaves its inputs unchanged, is deterministic, and its per-sample outputs
  follow a permutation of the batch (unless the module states why its samples interact at inference);
* the checkpoint round trip reproduces the outputs;
* every field of the module's config dataclass can be set from YAML (it is a constructor argument) or is declared
  as derived.

The hooks are described in the README ("Adding a project").
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from workspace import LIGHTNING_PROJECTS, Trained, trained

from paperkit.config import config_fields
from paperkit.testing import assert_all_params_get_grad, permute_batch, tensors_of


@pytest.fixture(params=LIGHTNING_PROJECTS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return trained(request.param, tmp_path_factory)


def _outputs(module: pl.LightningModule, batch: Any) -> dict[str, torch.Tensor]:
    module.eval()
    with torch.no_grad():
        out = module.predict_outputs(batch)
    out = out if isinstance(out, dict) else {"out": out}
    assert out and all(isinstance(v, torch.Tensor) for v in out.values()), "predict_outputs must return tensors"
    return out


def _seeded(fn: Any, seed: int = 1234) -> Any:
    pl.seed_everything(seed, verbose=False)
    return fn()


@contextlib.contextmanager
def _training(module: pl.LightningModule) -> Iterator[pl.LightningModule]:
    """The module in training mode without a trainer, restored afterwards: buffers (a training forward pass updates
    BatchNorm statistics), gradients, mode and the trainer reference (``self.log()`` without one only warns)."""
    buffers = {k: v.clone() for k, v in module.named_buffers()}
    trainer, was_training = module._trainer, module.training
    module._trainer = None
    module.train()
    try:
        yield module
    finally:
        with torch.no_grad():
            for k, v in module.named_buffers():
                v.copy_(buffers[k])
        module.zero_grad(set_to_none=True)
        module._trainer = trainer
        module.train(was_training)


def test_loss_terms_are_finite_and_train_every_parameter(project: Trained) -> None:
    with _training(project.module) as m:
        terms = _seeded(lambda: m.loss_terms(project.train_batch))
        assert "loss" in terms, "loss_terms() must return the total objective under the key 'loss'"
        for name, value in terms.items():
            assert value.dim() == 0 and torch.isfinite(value), f"term {name!r} = {value} is not a finite scalar"
        assert_all_params_get_grad(m, terms["loss"])


def test_training_step_optimises_loss_terms(project: Trained) -> None:
    if not project.module.automatic_optimization:
        pytest.skip("manual optimisation: training_step performs the update itself")
    with _training(project.module) as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step = _seeded(lambda: m.training_step(project.train_batch, 0))
    with _training(project.module) as m:  # the same BatchNorm statistics as the first call saw
        terms = _seeded(lambda: m.loss_terms(project.train_batch))
    loss = step["loss"] if isinstance(step, dict) else step
    torch.testing.assert_close(loss.detach(), terms["loss"].detach())


def test_predict_outputs_leave_inputs_alone_and_are_deterministic(project: Trained) -> None:
    batch = project.eval_batch
    before = [t.clone() for t in tensors_of(batch)]
    first = _outputs(project.module, batch)
    after = list(tensors_of(batch))
    assert len(before) == len(after) and all(torch.equal(a, b) for a, b in zip(before, after)), "inputs were modified"
    second = _outputs(project.module, batch)
    for k in first:
        torch.testing.assert_close(first[k], second[k], rtol=0, atol=0, msg=f"output {k!r} is not deterministic")


def test_per_sample_outputs_follow_a_permutation_of_the_batch(project: Trained) -> None:
    m = project.module
    reason = getattr(m, "contract_permutation", None)
    if reason is not None:
        assert isinstance(reason, str) and len(reason) > 20, "contract_permutation must state the reason"
        pytest.skip(f"{type(m).__name__}: {reason}")
    out = _outputs(m, project.eval_batch)
    n = next(iter(out.values())).shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    if n > 1 and torch.equal(perm, torch.arange(n)):
        perm = torch.roll(perm, 1)
    permute = getattr(m, "permute_batch", None)
    permuted = permute(project.eval_batch, perm) if callable(permute) else permute_batch(project.eval_batch, perm)
    out_p = _outputs(m, permuted)
    for k, v in out.items():
        assert v.shape[0] == n, f"output {k!r} has no batch dimension ({tuple(v.shape)})"
        torch.testing.assert_close(out_p[k], v[perm], atol=1e-5, rtol=1e-4, msg=f"output {k!r} mixes samples")


def test_checkpoint_round_trip_reproduces_outputs(project: Trained) -> None:
    cls = type(project.module)
    restored = cls.load_from_checkpoint(project.ckpt, map_location="cpu", weights_only=False)
    if hasattr(restored, "attach_data"):
        restored.attach_data(project.datamodule)
    ref = _outputs(project.module, project.eval_batch)
    got = _outputs(restored, project.eval_batch)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], msg=f"output {k!r} differs after loading {project.ckpt.name}")


def test_every_config_field_is_settable_from_yaml(project: Trained) -> None:
    m = project.module
    cfg = getattr(m, "cfg", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        pytest.skip(f"{type(m).__name__} keeps no config dataclass as .cfg")
    params = set(inspect.signature(type(m).__init__).parameters) - {"self"}
    derived = getattr(m, "derived_config_fields", {})
    missing = []
    for name, value in config_fields(cfg).items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in derived:
            continue
        if leaf not in params:
            missing.append(name)
        elif m.hparams.get(leaf) is not None and m.hparams[leaf] != value:
            missing.append(f"{name} (cfg {value!r} != hparams {m.hparams[leaf]!r}: not built by name?)")
    assert not missing, (
        f"{type(m).__name__}.cfg fields not settable as --model.<field> (add them to __init__ or to "
        f"derived_config_fields with a reason): {missing}"
    )


def test_the_gradient_check_catches_an_untrained_parameter(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The gradient check fails on a module with a parameter its loss does not reach."""
    t = trained(LIGHTNING_PROJECTS[0], tmp_path_factory)
    with _training(t.module) as m:
        m.register_parameter("contract_probe", torch.nn.Parameter(torch.zeros(1)))
        try:
            with pytest.raises(AssertionError, match="contract_probe"):
                assert_all_params_get_grad(m, m.loss_terms(t.train_batch)["loss"])
        finally:
            del m.contract_probe
