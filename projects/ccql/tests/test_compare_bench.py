"""The comparison (``--quick``: the pipeline, not a measurement), the counting baselines, and the bench harness."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ccql.bench import loop_ranking
from ccql.bench import main as bench_main
from ccql.compare import count_baselines, main_compare
from ccql.data import CCQLDataModule
from ccql.module import RankingMetric


def test_markov_beats_popularity_on_the_synthetic_data(tmp_path: Path) -> None:
    res = count_baselines(CCQLDataModule(synthetic_sessions=300, cache_dir=str(tmp_path)))
    # the data has sequential signal: item-to-item transitions predict clicks far better than popularity
    assert res["Markov-1"]["test/click_hr@10"] > res["Popularity"]["test/click_hr@10"] + 0.1


def test_compare_quick(tmp_path: Path) -> None:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        out = main_compare(["--quick", "--seeds", "0", "--variants", "SASRec", "CCQL", "--out", "cmp",
                            "--data.cache_dir=cache"])  # fmt: skip
    finally:
        os.chdir(old)
    assert {"SASRec", "CCQL", "Popularity", "Markov-1"} <= set(out["summary"])
    text = (tmp_path / "cmp" / "results.md").read_text()
    assert "Markov-1" in text and "test/purchase_hr@10" in text
    assert json.loads((tmp_path / "cmp" / "results.json").read_text())["quick"] is True


def test_loop_evaluator_agrees_with_the_vectorised_one() -> None:
    g = torch.Generator().manual_seed(0)
    scores, action = torch.randn(64, 30, generator=g), torch.randint(0, 30, (64,), generator=g)
    m = RankingMetric()
    m.update(scores, action, torch.zeros(64, dtype=torch.long), torch.zeros(64, dtype=torch.long))
    got = m.compute()
    for k, v in loop_ranking(scores, action).items():
        assert abs(float(got[f"click_{k}"]) - v) < 1e-6


def test_bench_runs(tmp_path: Path) -> None:
    rows = bench_main(["--items", "300", "--steps", "2", "--warmup", "1", "--eval-rows", "64", "--device", "cpu",
                       "--out", str(tmp_path / "b.json")])  # fmt: skip
    data = json.loads((tmp_path / "b.json").read_text())
    assert rows[0]["speed_ratio"] > 0 and data["evaluation"]["speedup"] > 0
