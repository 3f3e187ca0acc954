"""DDP: a 2-process CPU (gloo) ``lio fit`` of the tiny default through the console script (slow).

A probe callback, passed on the command line like any user callback, records every training batch on every rank
(image index and label). Checks: the run ends (rc 0, last.ckpt); both ranks ran the same number of steps; every batch
is whole groups of 1 + K images of one class with K distinct positives other than the anchor (the anchor + K positives
sampler survived Lightning's DDP set-up instead of being replaced by a sampler that interleaves groups across ranks);
the two ranks' anchors are disjoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json
from pathlib import Path
from pytorch_lightning import Callback

class RecordBatches(Callback):
    def __init__(self, out: str) -> None:
        self.out = out

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        rec = {"world": trainer.world_size, "step": batch_idx, "index": batch["index"].tolist(),
               "label": batch["label"].tolist()}
        with open(Path(self.out) / f"rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\\n")
"""

ANCHORS, K, STEPS = 4, 3, 3


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_process_ddp_fit_gives_each_rank_whole_groups(tmp_path: Path) -> None:
    (tmp_path / "lio_ddp_probe.py").write_text(PROBE)
    probe_out = tmp_path / "batches"
    probe_out.mkdir()
    callback = {"class_path": "lio_ddp_probe.RecordBatches", "init_args": {"out": str(probe_out)}}
    args = [
        str(Path(sys.executable).parent / "lio"),
        "fit",
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        f"--trainer.max_steps={STEPS}",
        "--trainer.max_epochs=1",
        "--trainer.limit_val_batches=2",  # never 1: parsed as 1.0 = all
        "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false",
        f"--trainer.callbacks+={json.dumps(callback)}",
        "--torch_threads=1",
        "--data.synthetic_train_per_class=8",
        "--data.synthetic_test_per_class=2",
        f"--data.anchors_per_batch={ANCHORS}",
        f"--data.num_positive={K}",
        "--data.eval_batch_size=10",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=850, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert list((tmp_path / "runs" / "lio").glob("version_*/checkpoints/last.ckpt")), proc.stderr[-2000:]

    ranks = [[json.loads(line) for line in (probe_out / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    check_whole_groups_per_rank(ranks)


def check_whole_groups_per_rank(ranks: list[list[dict]]) -> None:
    """Every rank: STEPS batches of ANCHORS groups, one class per group, the anchor + K other images; anchors of the
    two ranks disjoint."""
    assert [len(r) for r in ranks] == [STEPS, STEPS]
    anchors: list[set[int]] = [set(), set()]
    for r, batches in enumerate(ranks):
        for b in batches:
            assert b["world"] == 2 and len(b["index"]) == ANCHORS * (1 + K)
            for g in range(ANCHORS):
                idx = b["index"][g * (1 + K) : (g + 1) * (1 + K)]
                lab = b["label"][g * (1 + K) : (g + 1) * (1 + K)]
                assert len(set(lab)) == 1, (r, b)  # one class per group
                assert len(set(idx)) == 1 + K, (r, b)  # the anchor and K other images (every class has >= 1 + K)
                anchors[r].add(idx[0])
    assert len(anchors[0]) == len(anchors[1]) == STEPS * ANCHORS
    assert not anchors[0] & anchors[1]  # each rank its own anchors
