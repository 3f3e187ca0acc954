"""paperkit.compare: variants x seeds through the real CLI, aggregated per variant."""

from __future__ import annotations

import json
import os

from paperkit.compare import compare_arg_parser, format_results, run_compare
from paperkit.testing import tiny_trainer_args
from paperkit_toy import main


def test_run_compare_runs_every_variant_and_seed(tmp_path) -> None:
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = run_compare(
            main,
            "paperkit_toy",
            {"wide": ["--model.hidden=32"], "narrow": ["--model.hidden=2"]},
            seeds=(0, 1),
            base_args=tiny_trainer_args(trainer__max_epochs=1),
        )
    finally:
        os.chdir(old)
    assert [(r["variant"], r["seed"]) for r in res["runs"]] == [("wide", 0), ("wide", 1), ("narrow", 0), ("narrow", 1)]
    assert len({r["run_dir"] for r in res["runs"]}) == 4
    out = tmp_path / "runs" / "compare" / "paperkit_toy"
    saved = json.loads((out / "results.json").read_text())
    accs = [r["metrics"]["test/acc"] for r in saved["runs"] if r["variant"] == "wide"]
    assert saved["summary"]["wide"]["test/acc"]["mean"] == sum(accs) / 2
    assert saved["summary"]["wide"]["test/acc"]["n"] == 2
    md = (out / "results.md").read_text()
    assert md.startswith("| variant | test/acc | test/loss | time_s | seeds |")
    assert not (out / "results.partial.json").exists()


def test_format_results_selects_metrics() -> None:
    summary = {"a": {"x": {"mean": 0.5, "std": 0.1, "n": 3}, "y": {"mean": 1.0, "std": 0.0, "n": 3}}}
    assert format_results(summary, ["y"]).splitlines()[2] == "| a | 1.0000 ± 0.0000 | 3 |"


def test_compare_arg_parser() -> None:
    a = compare_arg_parser("x").parse_args(["--seeds", "4", "5", "--quick"])
    assert a.seeds == [4, 5] and a.quick
