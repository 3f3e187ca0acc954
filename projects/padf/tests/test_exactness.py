"""Issue 23, items 4 and 5: consistency decided in rationals near HiGHS's tolerance; the module structure (shared
types in ``padf.model``, evaluators as strategies over a sub-framework, no import circle)."""

from __future__ import annotations

import ast
import graphlib
from fractions import Fraction as F
from pathlib import Path

import pytest

import padf
from padf.errors import InconsistentError
from padf.exact import component_system, split_components
from padf.framework import EVALUATORS, Framework
from padf.lp import exact_feasible, feasible, integer_rows
from padf.model import SubFramework
from padf.ria import _tree

GAP = "300000000001/1000000000000"  # 0.3 + 1e-12: below HiGHS's feasibility tolerance (1e-10)
NEAR = {  # name: (rules, consistent?)
    "tiny_gap": (["a <- d : 3/10", f"a <- d : {GAP}", "g <- a : 1/2"], False),
    "same_value": (["a <- d : 3/10", "a <- d : 30/100", "g <- a : 1/2"], True),
    "interval_gap": (["a <- d : [0, 3/10]", f"a <- d : [{GAP}, 1]", "g <- a : 1/2"], False),
    "interval_touch": (["a <- d : [0, 3/10]", "a <- d : [3/10, 1]", "g <- a : 1/2"], True),
    "chain_gap": (
        ["a <- d : 1/2", "b <- a : 1/2", "b <- not a : 0", "b <- d : 250000000001/1000000000000", "g <- b : 1/2"],
        False,
    ),
    "chain_exact": (["a <- d : 1/2", "b <- a : 1/2", "b <- not a : 0", "b <- d : 1/4", "g <- b : 1/2"], True),
}


def _fw(rules: list[str], mode: str) -> Framework:
    return Framework.from_dict({"decisions": ["d"], "goals": {"g": 1}, "rules": rules, "independence": mode})


@pytest.mark.parametrize("mode", ["components", "none", "ria"])
@pytest.mark.parametrize("name", sorted(NEAR))
def test_consistency_near_the_tolerance_is_decided_exactly(name, mode):
    rules, consistent = NEAR[name]
    fw = _fw(rules, mode)
    sf = fw.subframework("d")
    (comp,), _ = split_components(sf)
    assert feasible(component_system(sf, comp))  # HiGHS alone calls every one of them consistent
    if consistent:
        assert fw.check() == []
        ev = fw.evaluate("d")
        assert ev.lower <= ev.laplace <= ev.upper
    else:
        with pytest.raises(InconsistentError) as e:
            fw.check()
        assert e.value.offending and all("g <- " not in r for r in e.value.offending)  # g is not to blame
        if mode != "ria":  # ria's solve trusts a point HiGHS finds (README); its check is exact
            with pytest.raises(InconsistentError):
                fw.evaluate("d")


@pytest.mark.parametrize("name", sorted(NEAR))
def test_rational_phase1_on_world_and_clique_lps(name):
    """The rational phase-1 simplex itself, on the world LP and on ria's clique-marginal LP (the same polytope)."""
    rules, consistent = NEAR[name]
    sf = _fw(rules, "ria").subframework("d")
    (comp,), _ = split_components(sf)
    assert exact_feasible(*integer_rows(component_system(sf, comp))) is consistent
    jt, _ = _tree(sf)
    assert exact_feasible(*jt.exact_rows()) is consistent


def test_rational_phase1_on_the_worked_example_and_a_contradiction():
    fw = Framework.from_yaml(Path(__file__).parents[1] / "configs" / "paper.yaml")
    for d in fw.problem.decisions:
        sf = fw.subframework(d)
        for comp in split_components(sf)[0]:
            assert exact_feasible(*integer_rows(component_system(sf, comp))) is True
    sf = _fw(["g <- d : 0.8", "g <- d : 0.3"], "components").subframework("d")
    (comp,), _ = split_components(sf)
    assert exact_feasible(*integer_rows(component_system(sf, comp))) is False
    assert exact_feasible([[1, 1], [1, -1]], ["==", ">="], [1, 0]) is True  # x + y = 1, x ≥ y
    assert exact_feasible([[1, 1], [1, 0]], ["==", ">="], [1, 2]) is False  # x + y = 1, x ≥ 2


def _padf_imports() -> dict[str, set[str]]:
    """Module -> the padf modules it imports anywhere (top level, in functions, under TYPE_CHECKING)."""
    src = Path(padf.__file__).parent
    graph: dict[str, set[str]] = {}
    for f in sorted(src.glob("*.py")):
        mod = "padf" if f.stem == "__init__" else f"padf.{f.stem}"
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("padf"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("padf")}
        graph[mod] = deps - {mod}
    return graph


def test_no_import_circle_among_the_modules():
    graph = _padf_imports()
    graph.pop("padf")  # the package facade re-exports; nothing inside imports it
    assert not any("padf" in deps for deps in graph.values())
    graphlib.TopologicalSorter(graph).static_order()  # raises CycleError on a circle
    for evaluator in ("padf.exact", "padf.ria", "padf.global_joint"):
        assert "padf.framework" not in graph[evaluator]
    assert graph["padf.model"] <= {"padf.parse", "padf.lp", "padf.maxent", "padf.worlds"}


@pytest.mark.parametrize("mode", ["components", "none", "ria"])
def test_evaluators_are_strategies_over_a_subframework(mode):
    fw = Framework.from_yaml(Path(__file__).parents[1] / "configs" / "paper.yaml")
    p = fw.problem.with_(independence=mode)
    for d in p.decisions:
        ev = EVALUATORS[mode][0](SubFramework.of(p, d))
        ref = Framework(p).evaluate(d)
        assert (ev.lower, ev.upper, ev.independence) == (ref.lower, ref.upper, mode)
        assert ev.laplace == pytest.approx(ref.laplace, abs=1e-12)
    sf = SubFramework.of(p, "d1")
    assert [str(s.rule) for s in sf.rules] == ["a1 <- d1 : 0.8", "a2 <- d1 : 0.3", "g <- a1 : 0.7", "g <- a2 : 0.65"]
    assert sf.supports == {"a1": [()], "a2": [()], "g": [sf.rules[2].body, sf.rules[3].body]}
    assert sf.rules[0].lo == F(4, 5)
