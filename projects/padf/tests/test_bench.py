"""Benchmark problems and the pruning target (issue: 4 independent 10-atom components within 2x of 4 x one)."""

from __future__ import annotations

import json

import pytest

from padf.bench import chain_rules, forest_problem, main, problem, time_solve, tree_rules
from padf.errors import SizeLimitError
from padf.framework import Framework


def test_forest_values_add_up_and_no_pruning_is_refused():
    one = Framework.from_dict(forest_problem(1, 6)).evaluate("d")
    four = Framework.from_dict(forest_problem(4, 6)).evaluate("d")
    assert four.n_components == 4 and four.max_component_atoms == 6
    assert four.lower_exact == 4 * one.lower_exact and four.upper_exact == 4 * one.upper_exact
    assert four.laplace == pytest.approx(4 * one.laplace, abs=1e-8)
    with pytest.raises(SizeLimitError):
        Framework.from_dict(forest_problem(4, 10, "none")).evaluate("d")
    ria = Framework.from_dict(forest_problem(4, 10, "ria")).evaluate("d")  # chains: ria is exact
    ex = Framework.from_dict(forest_problem(4, 10)).evaluate("d")
    assert not ria.approximate and ria.lower == pytest.approx(ex.lower, abs=1e-8)
    assert ria.upper == pytest.approx(ex.upper, abs=1e-8) and ria.laplace == pytest.approx(ex.laplace, abs=1e-6)


@pytest.mark.parametrize("make", [chain_rules, tree_rules])
def test_bench_structures_are_consistent_and_connected(make):
    goal = "x6" if make is chain_rules else "t1"
    ev = Framework.from_dict(problem(make(6), [goal], "components")).evaluate("d")
    assert ev.n_components == 1 and ev.max_component_atoms == 6
    assert ev.lower <= ev.laplace <= ev.upper


@pytest.mark.slow
def test_pruning_target_4x10_within_2x():
    one = time_solve(forest_problem(1, 10), repeats=3)["seconds"]
    four = time_solve(forest_problem(4, 10), repeats=3)["seconds"]
    assert four <= 2 * 4 * one


@pytest.mark.slow
def test_bench_quick_writes_json(tmp_path):
    out = tmp_path / "padf.json"
    assert main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["pruning_target_met"] is True
