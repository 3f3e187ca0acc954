"""paperkit.bench: measurement fields, memory accounting, ratios measured in one process, the summary table."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from paperkit.bench import BenchTarget, bench_arg_parser, compare, measure, summarize, time_fn, write_bench
from paperkit_toy import ToyModule


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(16, 8), torch.randint(0, 3, (16,))


def test_measure_lightning_module_with_its_own_optimizer() -> None:
    r = measure(BenchTarget("toy", ToyModule(), _batch), steps=5, warmup=1)
    assert r["name"] == "toy" and r["device"] == "cpu" and r["batch_size"] == 16
    assert r["steps_per_s"] > 0 and r["samples_per_s"] == pytest.approx(16 * r["steps_per_s"])
    assert r["mem_kind"] == "rss_growth"
    assert r["n_params"] == sum(p.numel() for p in ToyModule().parameters())


def test_measure_updates_the_weights() -> None:
    model = ToyModule()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure(BenchTarget("toy", model, _batch), steps=2, warmup=0)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_peak_memory_sees_a_large_temporary() -> None:
    def hungry(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        big = torch.ones(64 * 2**20 // 4 * 4)  # 256 MiB, alive while the step runs
        loss = model(batch[0]).sum() + big[:1].sum() * 0
        big.mul_(2)
        return loss

    small = measure(BenchTarget("small", nn.Linear(8, 3), _batch, step=lambda m, b: m(b[0]).sum()), steps=3, warmup=1)
    large = measure(BenchTarget("large", nn.Linear(8, 3), _batch, step=hungry), steps=3, warmup=1)
    assert large["peak_mem_mb"] > 150
    assert small["peak_mem_mb"] < large["peak_mem_mb"]


def test_compare_measures_both_and_reports_ratios() -> None:
    calls = {"cand": 0, "ref": 0}

    def step(tag: str):
        def f(m: nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            calls[tag] += 1
            return nn.functional.cross_entropy(m(b[0]), b[1])

        return f

    calls["cand2"] = 0
    rows = compare(
        [
            BenchTarget("cand", ToyModule(), _batch, step=step("cand")),
            BenchTarget("cand2", ToyModule(hidden=4), _batch, step=step("cand2")),
        ],
        BenchTarget("ref", nn.Linear(8, 3), _batch, step=step("ref"), optimizer=lambda p: torch.optim.SGD(p, lr=0.1)),
        steps=4,
        warmup=2,
    )
    assert calls == {"cand": 6, "cand2": 6, "ref": 6}  # the reference is measured once for both candidates
    assert [r["candidate"]["name"] for r in rows] == ["cand", "cand2"]
    for res in rows:
        assert res["speed_ratio"] == pytest.approx(res["candidate"]["steps_per_s"] / res["reference"]["steps_per_s"])
        assert res["reference"]["name"] == "ref"
    assert rows[0]["reference"] is rows[1]["reference"]
    with pytest.raises(TypeError):
        compare(BenchTarget("cand", ToyModule(), _batch), BenchTarget("ref", ToyModule(), _batch))


def test_time_fn_counts_calls_and_reports_seconds() -> None:
    n = {"calls": 0}

    def f() -> None:
        n["calls"] += 1

    r = time_fn(f, repeats=5, warmup=2)
    assert n["calls"] == 7 and r["repeats"] == 5 and 0 <= r["median_s"] <= r["mean_s"] * 5


def test_measure_rejects_zero_steps() -> None:
    with pytest.raises(ValueError):
        measure(BenchTarget("toy", ToyModule(), _batch), steps=0)


def test_write_and_summarize(tmp_path) -> None:
    rows = [
        {
            "name": "paper size",
            "candidate": {"name": "a", "batch_size": 64, "samples_per_s": 100.0},
            "reference": {"name": "b", "samples_per_s": 50.0},
            "speed_ratio": 2.0,
            "memory_ratio": 1.5,
        }
    ]
    path = write_bench("toy", rows, out=tmp_path / "toy.json", note="x")
    data = json.loads(path.read_text())
    assert data["slug"] == "toy" and data["note"] == "x" and "torch" in data["environment"]
    md = summarize([path])
    assert "## toy" in md and "| paper size | a | b | 64 | 100.000 | 50.000 | 2.000 | 1.500 |" in md


def test_bench_arg_parser_defaults() -> None:
    a = bench_arg_parser("x").parse_args([])
    assert a.steps > 0 and a.warmup >= 0 and a.out is None
