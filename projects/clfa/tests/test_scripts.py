"""Smoke tests of bench.py (with the paper-sized models swapped for tiny ones) and compare.py (--quick)."""

from __future__ import annotations

import json

import pytest
import torch

import clfa.bench as bench
from clfa.module import CLFAModule


def test_bench_runs_and_writes_json(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(bench, "SEQ", 9)
    monkeypatch.setattr(bench, "IMG", 32)
    monkeypatch.setattr(bench, "DIM", 32)
    monkeypatch.setattr(bench, "paper_module", lambda: CLFAModule(vocab_size=30522))

    class TinyBare(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            m = CLFAModule(vocab_size=30522).model
            self.text, self.image = m.text_encoder, m.image_encoder

    monkeypatch.setattr(bench, "BareEncoders", TinyBare)
    out = bench.main(["--device=cpu", "--steps=1", "--warmup=0", f"--out={tmp_path / 'b.json'}"])
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["rows"][0]["batch_size"] == 8 and out["rows"][0]["speed_ratio"] > 0
    # the tiny CLFA runs its encoders plus projections, fusion and heads: strictly more FLOPs than the bare encoders
    assert 0 < data["rows"][0]["flop_ratio_bare_over_clfa"] < 1


def test_train_flops_counts_forward_and_backward() -> None:
    lin = torch.nn.Linear(4, 3, bias=False)
    flops = bench.train_flops(lin, lambda m, batch: m(torch.ones(5, 4)).sum(), b=5)
    assert flops == 2 * (2 * 5 * 4 * 3)  # forward matmul + weight-gradient matmul (the input needs no grad)


@pytest.mark.slow
def test_compare_quick(tmp_path, monkeypatch) -> None:
    from clfa.compare import main

    monkeypatch.chdir(tmp_path)
    res = main(["--quick", "--seeds", "0", "--variants", "clfa", "no_alignment", "--out", str(tmp_path / "cmp")])
    assert set(res["summary"]) == {"clfa", "no_alignment"}
    assert (tmp_path / "cmp" / "results.md").is_file()
