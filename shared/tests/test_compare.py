"""paperkit.compare: variants x seeds through the real CLI, aggregated per variant."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from paperkit import compare
from paperkit.compare import Variant, compare_arg_parser, format_results, grid_search, run_compare, variant_args
from paperkit.configs import config_dir, config_path
from paperkit.errors import PaperkitError
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
    assert md.startswith(
        "| variant | selection/best_epoch | selection/val_acc | test/acc | test/loss | time_s | seeds |"
    )
    assert not (out / "results.partial.json").exists()


def test_format_results_selects_metrics() -> None:
    summary = {"a": {"x": {"mean": 0.5, "std": 0.1, "n": 3}, "y": {"mean": 1.0, "std": 0.0, "n": 3}}}
    assert format_results(summary, ["y"]).splitlines()[2] == "| a | 1.0000 ± 0.0000 | 3 |"


def test_compare_arg_parser() -> None:
    a = compare_arg_parser("x").parse_args(["--seeds", "4", "5", "--quick"])
    assert a.seeds == [4, 5] and a.quick
    b = compare_arg_parser("x", ["a", "b"]).parse_args(["--variants", "b"])
    assert b.variants == ["b"]
    with pytest.raises(SystemExit):
        compare_arg_parser("x", ["a", "b"]).parse_args(["--variants", "c"])


def test_variants_named_by_config_files_quick_and_resume(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    variants = [Variant("toy"), Variant("narrow", ("ablations/narrow.yaml",))]
    assert variant_args("paperkit_toy", variants[1]) == [
        "--config",
        str(config_path("paperkit_toy", "ablations/narrow.yaml")),
    ]
    calls: list[list[str]] = []

    def counting_main(args: list[str]):
        calls.append(args)
        return main(args)

    res = run_compare(counting_main, "paperkit_toy", variants, seeds=(0,), quick=True)
    assert len(calls) == 2 and all("quick.yaml" in " ".join(a) for a in calls)
    narrow = next(r for r in res["runs"] if r["variant"] == "narrow")
    saved = (Path(narrow["run_dir"]) / "config.yaml").read_text()
    assert "hidden: 2" in saved and "max_epochs: 1" in saved
    # interrupted comparison: the partial file holds one finished run, which a rerun does not repeat
    out = tmp_path / "runs" / "compare" / "paperkit_toy"
    first = res["runs"][0]
    (out / "results.partial.json").write_text(json.dumps({"slug": "paperkit_toy", "runs": [first]}))
    calls.clear()
    again = run_compare(counting_main, "paperkit_toy", variants, seeds=(0,), quick=True)
    assert len(calls) == 1 and "narrow.yaml" in " ".join(calls[0])
    assert again["runs"][0] == first


def test_a_narrower_resume_keeps_the_other_recorded_runs(tmp_path, monkeypatch) -> None:
    """An interrupted comparison finished variant by variant: the runs of the other variants stay recorded."""
    monkeypatch.chdir(tmp_path)
    variants = [Variant("toy"), Variant("narrow", ("ablations/narrow.yaml",))]
    calls: list[list[str]] = []

    def counting_main(args: list[str]):
        calls.append(args)
        return main(args)

    full = run_compare(counting_main, "paperkit_toy", variants, seeds=(0,), quick=True)
    out = tmp_path / "runs" / "compare" / "paperkit_toy"
    # as if the wide call had been killed after both runs: the partial file holds them
    (out / "results.partial.json").write_text(json.dumps({"slug": "paperkit_toy", "runs": full["runs"]}))
    calls.clear()
    run_compare(counting_main, "paperkit_toy", variants[1:], seeds=(0,), quick=True)  # narrower: nothing to run
    assert calls == []
    assert (out / "results.partial.json").exists(), "the narrower call dropped the toy run's record"
    both = run_compare(counting_main, "paperkit_toy", variants, seeds=(0,), quick=True)
    assert calls == [] and both["runs"] == full["runs"]
    assert not (out / "results.partial.json").exists()


def test_config_path_errors_name_the_shipped_files() -> None:
    assert config_dir("paperkit_toy").name == "configs"
    with pytest.raises(PaperkitError, match=r"quick\.yaml"):
        config_path("paperkit_toy", "nope.yaml")


def test_config_dir_of_a_source_checkout(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "proj" / "src" / "srcpkg_demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (tmp_path / "proj" / "configs").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "proj" / "src"))
    assert config_dir("srcpkg_demo") == tmp_path / "proj" / "configs"


def test_grid_search_selects_on_validation_and_resumes(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    calls: list[list[str]] = []

    def counting_main(args: list[str]):
        calls.append(args)
        assert args[0] == "fit"  # never tests
        return main(args)

    grid = {"model.hidden": [1, 32]}
    base = tiny_trainer_args(trainer__max_epochs=2, trainer__limit_train_batches=4)
    best = grid_search(counting_main, "paperkit_toy", grid, monitor="val/loss", mode="min", base_args=base)
    rows = json.loads((tmp_path / "runs" / "compare" / "paperkit_toy" / "grid_grid.json").read_text())["rows"]
    scores = {r["point"]["model.hidden"]: r["score"] for r in rows}
    assert best == {"model.hidden": min(scores, key=scores.get)}
    n = len(calls)
    assert grid_search(counting_main, "paperkit_toy", grid, monitor="val/loss", mode="min", base_args=base) == best
    assert len(calls) == n  # every point was cached


def test_run_selected_applies_variants_seeds_quick_and_epochs(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(compare, "run_compare", lambda main, slug, variants, **kw: seen.update(kw, variants=variants))
    variants = [Variant("a"), Variant("b", ("x.yaml",)), Variant("c")]
    parser = compare_arg_parser("toy", [v.name for v in variants], epochs=True)
    opts = parser.parse_args(["--variants", "c", "a", "--seeds", "4", "--epochs", "7", "--quick", "--out", "o"])
    compare.run_selected(print, "toy", variants, opts, ["m"], ["--base"])
    assert [v.name for v in seen["variants"]] == ["a", "c"]  # the project's order, only the chosen ones
    assert seen["seeds"] == [4] and seen["quick"] and seen["out_dir"] == "o" and seen["metrics"] == ["m"]
    assert seen["base_args"] == ["--base", "--trainer.max_epochs=7"]
    compare.run_selected(print, "toy", variants, parser.parse_args([]), None)  # defaults: all variants, no override
    assert [v.name for v in seen["variants"]] == ["a", "b", "c"] and seen["base_args"] == []
    assert "--epochs" not in compare_arg_parser("toy").format_help()
