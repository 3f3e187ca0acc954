"""SAM under DDP (slow): ``dmdetect fit`` with two CPU processes (gloo) through the console script, SAM driven by
Lightning's manual optimisation. Each rank dumps, at its first optimiser step, the gradient SAM is about to apply (the
second one, taken at w + e), its ascent offset e = rho * g / ||g|| (from the first gradient) and its own local second
gradient recomputed on its own batch; at the end of fit, its weights. The ranks see different batches, so identical
gradients that equal the mean of the local ones mean the second gradient was all-reduced, and identical offsets that
the first one was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

DUMP = textwrap.dedent(
    """
    import torch
    from pytorch_lightning import Callback

    from dmdetect.sam import frozen_bn_stats


    class RankDump(Callback):
        def __init__(self, out: str) -> None:
            self.out, self.first = out, None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.batch = batch

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            if self.first is not None:
                return
            named = list(pl_module.named_parameters())
            with torch.enable_grad(), frozen_bn_stats(pl_module.net):  # at w + e, as the second pass
                loss = pl_module.loss_terms(self.batch)["loss"]
                local = torch.autograd.grad(loss, [p for _, p in named])
            self.first = {
                "grad": {n: p.grad.detach().clone() for n, p in named},
                "e_w": {n: optimizer.state[p]["e_w"].detach().clone() for n, p in named},
                "local_grad": {n: g.detach().clone() for (n, _), g in zip(named, local)},
                "label": self.batch["label"].clone(),
            }

        def on_train_end(self, trainer, pl_module):
            params = {n: p.detach().clone() for n, p in pl_module.named_parameters()}
            torch.save({**self.first, "params": params, "step": trainer.global_step},
                       f"{self.out}/rank{trainer.global_rank}.pt")
    """
)


@pytest.mark.slow
def test_sam_fit_under_ddp_two_cpu_processes(tmp_path: Path) -> None:
    (tmp_path / "rankdump.py").write_text(DUMP)
    exe = Path(sys.executable).parent / "dmdetect"
    cb = json.dumps([{"class_path": "rankdump.RankDump", "init_args": {"out": str(tmp_path)}}])
    args = [str(exe), "fit", "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp",
            "--trainer.max_steps=3", "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", f"--trainer.callbacks={cb}",
            "--model.hidden=32", "--model.dropout=0", "--data.synthetic_records=100", "--data.synthetic_val_records=20",
            "--data.batch_size=64", "--seed_everything=0", "--torch_threads=1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get(
        "PYTHONPATH", "")])}  # fmt: skip
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["step"] == r1["step"] == 3
    differ = 0
    for n in r0["grad"]:
        torch.testing.assert_close(r1["grad"][n], r0["grad"][n], rtol=0, atol=0, msg=n)  # all-reduced: identical
        torch.testing.assert_close(r1["e_w"][n], r0["e_w"][n], rtol=0, atol=0, msg=n)  # the first gradient too
        mean = (r0["local_grad"][n] + r1["local_grad"][n]) / 2  # ... and it is the ranks' mean
        torch.testing.assert_close(r0["grad"][n], mean, rtol=1e-4, atol=1e-6, msg=n)
        differ += not torch.allclose(r0["local_grad"][n], r1["local_grad"][n])
        torch.testing.assert_close(r1["params"][n], r0["params"][n], rtol=0, atol=0, msg=n)  # same weights at the end
    assert differ > 0  # the ranks' own gradients differ: their equality above is the all-reduce, not the data
