"""The comparison's selection and target logic (fast), and the whole compare pipeline at toy size (slow)."""

import json
import math

import pytest

from kamcl import compare
from paperkit.report import aggregate_seeds


def _summary(values: dict[str, dict[str, list[float]]]) -> dict:
    return {name: aggregate_seeds([dict(zip(m, v)) for v in zip(*m.values())]) for name, m in values.items()}


def test_grid_selects_each_baselines_lr_on_validation_not_test() -> None:
    v, e, t = "selection/val_ndcg@10", "selection/best_epoch", "test/ndcg@10"
    summary = _summary(
        {
            "lightgcn lr=0.001": {v: [0.05], e: [250], t: [0.9]},
            "lightgcn lr=0.01": {v: [0.06], e: [40], t: [0.1]},
            "bprmf lr=0.003": {v: [0.02], e: [90], t: [0.0]},
            "bprmf lr=0.03": {v: [0.01], e: [5], t: [0.5]},
        }
    )
    grid = compare._grid_summary(summary, [0])
    assert grid["best_lr"] == {"lightgcn": 0.01, "bprmf": 0.003}
    assert grid["best_epoch"]["lightgcn lr=0.001"] == 250


def test_variants_carry_the_selected_lrs_and_the_shared_epoch_budget(tmp_path) -> None:
    v = compare._variants("hard", {"lightgcn": 0.003, "bprmf": 0.03}, tmp_path)
    assert "--model.optimizer.init_args.lr=0.003" in v["lightgcn merged (lr 0.003)"]
    assert "--model.optimizer.init_args.lr=0.03" in v["bprmf (buy only) (lr 0.03)"]
    budget = f"--trainer.max_epochs={compare.MAX_EPOCHS}"
    assert all(budget in args for name, args in v.items() if name != "pop")
    assert "kamcl shuffled price triples" in v
    assert "kamcl shuffled price triples" not in compare._variants("plain", {"lightgcn": 0.01}, tmp_path)


def test_targets_arithmetic() -> None:
    names = ["kamcl", "kamcl shuffled price triples", "lightgcn merged (lr 0.01)", "bprmf (buy only) (lr 0.01)"]
    summary = _summary({n: {"test/ndcg@10": [v]} for n, v in zip(names, [0.06, 0.042, 0.04, 0.02])})
    t = compare.targets(summary)
    assert math.isclose(t["kamcl_over_lightgcn"], 1.5) and t["pass_1.15x_lightgcn"]
    assert math.isclose(t["kamcl_over_bprmf"], 3.0) and t["pass_2x_bprmf"] and t["lightgcn_above_bprmf"]
    assert math.isclose(t["shuffle_removes_fraction_of_gain"], 0.9) and t["pass_shuffle_70pct"]
    summary["kamcl shuffled price triples"]["test/ndcg@10"]["mean"] = 0.05
    t = compare.targets(summary)
    assert math.isclose(t["shuffle_removes_fraction_of_gain"], 0.5) and not t["pass_shuffle_70pct"]


@pytest.mark.slow
def test_compare_quick_end_to_end(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    compare.main(["--quick", "--seeds", "0", "--split", "hard", "--out", str(tmp_path / "out")])
    res = json.loads((tmp_path / "out" / "hard" / "results.json").read_text())
    assert len(res["grid"]["validation_ndcg@10"]) == len(compare.GRID_LRS) * len(compare.GRID_MODELS)
    assert set(res["grid"]["best_lr"]) == set(compare.GRID_MODELS)
    assert any(name.startswith(f"lightgcn merged (lr {res['grid']['best_lr']['lightgcn']})") for name in res["summary"])
    assert "shuffle_removes_fraction_of_gain" in res["targets"]
    assert "Baseline learning-rate grid" in (tmp_path / "out" / "results.md").read_text()
