"""The comparison's selection and target logic (fast), and the whole compare pipeline at toy size (slow)."""

import json
import math
from pathlib import Path

import pytest

from kamcl import compare
from paperkit.report import aggregate_seeds


def _summary(values: dict[str, dict[str, list[float]]]) -> dict:
    return {name: aggregate_seeds([dict(zip(m, v)) for v in zip(*m.values())]) for name, m in values.items()}


def test_grid_selects_each_models_point_on_validation_not_test() -> None:
    v, e, t = "selection/val_ndcg@10", "selection/best_epoch", "test/ndcg@10"
    summary = _summary(
        {
            "lightgcn lr=0.001 reg=0.0001": {v: [0.05], e: [250], t: [0.9]},
            "lightgcn lr=0.01 reg=0.001": {v: [0.06], e: [40], t: [0.1]},
            "bprmf lr=0.003 reg=0.001": {v: [0.02], e: [90], t: [0.0]},
            "bprmf lr=0.03 reg=0.0001": {v: [0.01], e: [5], t: [0.5]},
            "kamcl lr=0.1 reg=0.01": {v: [0.07], e: [30], t: [0.0]},
            "kamcl lr=0.01 reg=0.0001": {v: [0.065], e: [60], t: [0.8]},
        }
    )
    grid = compare._grid_summary(summary, [0])
    assert grid["best"] == {
        "kamcl": {"lr": 0.1, "reg_weight": 1e-2},
        "lightgcn": {"lr": 0.01, "reg_weight": 1e-3},
        "bprmf": {"lr": 0.003, "reg_weight": 1e-3},
    }
    assert grid["best_epoch"]["lightgcn lr=0.001 reg=0.0001"] == 250


def test_variants_carry_the_selected_point_and_the_shared_epoch_budget(tmp_path) -> None:
    best = {"lightgcn": {"lr": 0.003, "reg_weight": 1e-4}, "bprmf": {"lr": 0.03, "reg_weight": 1e-3}}
    v = compare._variants("hard", best, tmp_path)
    lgcn, mf = v["lightgcn merged (lr 0.003, L2 0.0001)"], v["bprmf (buy only) (lr 0.03, L2 0.001)"]
    assert "--model.optimizer.init_args.lr=0.003" in lgcn and "--model.reg_weight=0.0001" in lgcn
    assert "--model.optimizer.init_args.lr=0.03" in mf and "--model.reg_weight=0.001" in mf
    budget = compare._budget(quick=False)
    assert f"--trainer.max_epochs={compare.MAX_EPOCHS}" in budget
    assert f'"patience": {compare.PATIENCE}' in budget[1]
    assert all(args[-len(budget) :] == budget for name, args in v.items() if name != "pop")
    assert "kamcl shuffled price triples" in v
    assert "kamcl shuffled price triples" not in compare._variants("plain", {}, tmp_path)


def test_kamcl_variants_share_kamcls_selected_point_and_keep_an_untuned_row(tmp_path) -> None:
    point = {"lr": 0.03, "reg_weight": 1e-2}
    v = compare._variants("hard", {"kamcl": point}, tmp_path)
    hp = ["--model.optimizer.init_args.lr=0.03", "--model.reg_weight=0.01"]
    tuned, shuffled = v["kamcl (lr 0.03, L2 0.01)"], v["kamcl shuffled price triples"]
    assert tuned == [*hp, *compare._budget(quick=False)]  # KAMCL is default.yaml itself: no --config
    assert all(a in shuffled for a in hp) and "shuffled_price.yaml" in shuffled[1]
    untuned_hp = compare._hp(compare.UNTUNED_POINT)
    assert v["kamcl" + compare.UNTUNED] == [*untuned_hp, *compare._budget(quick=False)]
    untuned_shuffle = v["kamcl shuffled price triples" + compare.UNTUNED]
    assert "shuffled_price.yaml" in untuned_shuffle[1] and untuned_shuffle[2:4] == untuned_hp
    for variants in (compare._ablations(point, tmp_path), compare._shuffles(point)):
        assert len(variants) >= 3 and all(a in args for args in variants.values() for a in hp)


def test_untuned_rows_are_default_yamls_point() -> None:
    """The "untuned defaults" label names default.yaml's KAMCL learning rate and L2 weight."""
    import yaml

    default = yaml.safe_load((Path(compare.__file__).parent / "default.yaml").read_text())["model"]
    point = {"lr": default["optimizer"]["init_args"]["lr"], "reg_weight": default["reg_weight"]}
    assert point == compare.UNTUNED_POINT


def test_ablations_refuse_to_run_without_the_hard_split_grid(tmp_path) -> None:
    with pytest.raises(SystemExit, match="--split hard --group main"):
        compare.kamcl_point(tmp_path)


def test_budget_override_reaches_the_trainer(tmp_path, capsys) -> None:
    from kamcl.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["fit", "--print_config", *compare._budget(quick=False)])
    assert stop.value.code == 0
    printed = capsys.readouterr().out
    assert f"max_epochs: {compare.MAX_EPOCHS}" in printed and f"patience: {compare.PATIENCE}" in printed


def test_targets_arithmetic() -> None:
    names = ["kamcl (lr 0.1, L2 0.01)", "kamcl shuffled price triples", "lightgcn merged (lr 0.01, L2 0.0001)"]
    names.append("bprmf (buy only)")
    # neither may be taken for the tuned KAMCL or its price shuffle
    untuned = ["kamcl" + compare.UNTUNED, "kamcl shuffled price triples" + compare.UNTUNED]
    summary = _summary({n: {"test/ndcg@10": [0.01]} for n in ["kamcl shuffled brand triples", *untuned]})
    summary |= _summary({n: {"test/ndcg@10": [v]} for n, v in zip(names, [0.06, 0.042, 0.04, 0.02])})
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
    n_points = len(compare.QUICK_GRID[0]) * len(compare.QUICK_GRID[1]) * len(compare.GRID_MODELS)
    assert len(res["grid"]["validation_ndcg@10"]) == n_points
    assert set(res["grid"]["best"]) == set(compare.GRID_MODELS)
    assert compare._label("lightgcn", res["grid"]["best"]["lightgcn"]) in res["summary"]
    assert "shuffle_removes_fraction_of_gain" in res["targets"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "Grid, learning rate x L2" in md and "kamcl w/o KG" in md and "kamcl shuffled brand triples" in md
