"""The paper-size CPU benchmark path: gradient accumulation over whole groups, alternating timing, its JSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lio.bench import main, paired_accumulated_steps


def test_accumulated_step_equals_the_full_batch_step() -> None:
    """Micro-batches of whole groups, each loss weighted by its share: one SGD step lands on the full-batch step."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))  # no BatchNorm: accumulation is then exact
    x, y = torch.randn(12, 3, 2, 2), torch.arange(3).repeat_interleave(4)
    models = {"a": copy.deepcopy(base), "b": copy.deepcopy(base)}
    step = {k: (lambda m, xs, ys: F.cross_entropy(m(xs), ys)) for k in models}
    res = paired_accumulated_steps(models, step, (x, y), group=4, micro_groups=1, steps=1, warmup=0)
    assert len(res["a"]["micro_s"]) == len(res["b"]["micro_s"]) == 3 and len(res["micro_ratios"]) == 3
    full = copy.deepcopy(base)
    opt = torch.optim.SGD(full.parameters(), lr=1e-3, momentum=0.9)
    F.cross_entropy(full(x), y).backward()
    opt.step()
    for m in models.values():
        for p, q in zip(m.parameters(), full.parameters()):
            torch.testing.assert_close(p, q)


def test_micro_bench_writes_both_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    main(["--device", "cpu", "--backbone", "resnet18", "--image_size", "64", "--anchors", "2", "--micro_groups", "1",
          "--steps", "1", "--warmup", "1", "--n_classes", "5", "--infer_repeats", "1", "--out", str(out)])  # fmt: skip
    d = json.loads(out.read_text())
    assert d["partial"] is False and d["micro_batch_images"] == 4 and d["positives"] == 6
    train, infer = d["rows"]
    assert train["images_per_step"] == 8 and len(train["lio"]["micro_s"]) == len(train["plain"]["micro_s"]) == 2
    assert train["overhead_ratio"] > 0 and infer["throughput_ratio"] > 0
    main(["--device", "cpu", "--backbone", "resnet18", "--image_size", "64", "--anchors", "2", "--micro_groups", "1",
          "--infer_only", "--infer_repeats", "2", "--n_classes", "5", "--out", str(out)])  # fmt: skip
    [infer] = json.loads(out.read_text())["rows"]
    assert infer["pair"].startswith("exported") and len(infer["pair_ratios"]) == 2
