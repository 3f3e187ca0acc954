"""Spec §6: the worked example table (exact rationals for V±, 1e-6 for V^L) and the closed-form micro-cases."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import pytest

from padf.errors import InconsistentError
from padf.framework import Framework
from padf.parse import load_problem

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RULES = ["a1 <- d1 : 0.8", "a2 <- d1 : 0.3", "a1 <- d2 : 0.4", "a2 <- d2 : 0.9", "g <- a1 : 0.7", "g <- a2 : 0.65"]
TABLE = {  # (closed_world, decision) -> (V-, VL, V+)
    (True, "d1"): (F(14, 25), 0.603012, F(151, 200)),
    (True, "d2"): (F(117, 200), 0.618327, F(137, 200)),
    (False, "d1"): (F(14, 25), 0.659127, F(19, 25)),
    (False, "d2"): (F(117, 200), 0.639284, F(137, 200)),
}


def fw_of(rules, closed_world=True, **kw) -> Framework:
    decisions = kw.pop("decisions", ["d1", "d2"])
    return Framework.from_dict({"decisions": decisions, "goals": kw.pop("goals", {"g": 1}), "rules": rules,
                                "closed_world": closed_world, **kw})  # fmt: skip


@pytest.mark.parametrize("closed_world", [True, False])
@pytest.mark.parametrize("independence", ["components", "none"])
def test_worked_example_table(closed_world, independence):
    fw = fw_of(RULES, closed_world, independence=independence)
    for d in ("d1", "d2"):
        ev = fw.evaluate(d)
        lo, lap, hi = TABLE[(closed_world, d)]
        assert ev.lower_exact == lo and ev.upper_exact == hi  # exact rationals, certified by the rational simplex
        assert ev.laplace == pytest.approx(lap, abs=1e-6)
        assert ev.residual < 1e-9
        assert not ev.approximate


def test_worked_example_choices_flip_with_closed_world():
    cw = fw_of(RULES, True)
    assert [cw.optimal(c) for c in ("optimistic", "pessimistic", "laplace")] == [["d1"], ["d2"], ["d2"]]
    ow = fw_of(RULES, False)
    assert [ow.optimal(c) for c in ("optimistic", "pessimistic", "laplace")] == [["d1"], ["d2"], ["d1"]]


def test_paper_yaml_and_tabular_form_agree():
    a = Framework(load_problem(CONFIGS / "paper.yaml"))
    b = Framework(load_problem(CONFIGS / "paper_tabular.yaml"))
    assert sorted(map(str, a.problem.rules)) == sorted(map(str, b.problem.rules))
    for d in ("d1", "d2"):
        assert a.evaluate(d).upper_exact == b.evaluate(d).upper_exact == TABLE[(True, d)][2]


def test_open_world_ablation_is_layered_on_paper():
    p = load_problem(CONFIGS / "ablations" / "open_world.yaml")
    assert not p.closed_world and len(p.rules) == 6
    assert Framework(p).optimal("laplace") == ["d1"]


@pytest.mark.parametrize(("p", "q"), [(F(4, 5), F(7, 10)), (F(1, 3), F(1, 2)), (F(0), F(1, 4)), (F(1), F(1))])
def test_chain_closed_form(p, q):
    rules = [f"a <- d : {p}", f"g <- a : {q}"]
    cw = fw_of(rules, True, decisions=["d"]).evaluate("d")
    assert cw.lower_exact == cw.upper_exact == p * q
    assert cw.laplace == pytest.approx(float(p * q), abs=1e-8)
    ow = fw_of(rules, False, decisions=["d"]).evaluate("d")
    assert (ow.lower_exact, ow.upper_exact) == (p * q, p * q + (1 - p))
    assert ow.laplace == pytest.approx(float(p * q + (1 - p) / 2), abs=1e-6)  # MaxEnt sets P(g | not a) = 1/2


def test_unrelated_component_changes_nothing():
    base = fw_of(RULES, True)
    more = fw_of([*RULES, "c <- : 0.5", "e <- c : 0.3"], True)
    for d in ("d1", "d2"):
        a, b = base.evaluate(d), more.evaluate(d)
        assert (a.lower_exact, a.upper_exact) == (b.lower_exact, b.upper_exact)
        assert a.laplace == pytest.approx(b.laplace, abs=1e-9)
    # without pruning the joint over all atoms gives the same numbers (the lemma, checked numerically)
    none = fw_of([*RULES, "c <- : 0.5", "e <- c : 0.3"], True, independence="none")
    for d in ("d1", "d2"):
        assert none.evaluate(d).upper_exact == base.evaluate(d).upper_exact
        assert none.evaluate(d).laplace == pytest.approx(base.evaluate(d).laplace, abs=1e-7)


def test_inconsistency_names_the_offending_rules():
    fw = fw_of([*RULES, "a <- : 0.8", "a <- : 0.3"], True)
    with pytest.raises(InconsistentError) as e:
        fw.check()
    assert sorted(e.value.offending) == ["'a <- : 0.3'", "'a <- : 0.8'"]
    with pytest.raises(InconsistentError):
        fw.evaluate("d1")


def test_decision_specific_inconsistency_and_unrelated_inconsistent_component():
    fw = fw_of([*RULES, "x <- d2 : 0.2", "x <- d2 : 0.9"], True)
    with pytest.raises(InconsistentError, match="under decision 'd2'"):
        fw.check()
    assert fw.evaluate("d1").upper_exact == F(151, 200)  # d1 never sees the x rules
    with pytest.raises(InconsistentError):
        fw.evaluate("d2")  # the lemma needs the pruned component to be consistent


def test_vacuous_rule_is_warned_and_theta_edges():
    fw = fw_of(["a <- d : 0", "g <- a : 0.3", "g <- d : 1"], False, decisions=["d"])
    ev = fw.evaluate("d")
    assert ev.lower_exact == ev.upper_exact == 1
    assert any("vacuous" in w for w in fw.check())


def test_interval_probabilities():
    fw = fw_of(["a <- d : [0.6, 0.8]", "g <- a : 0.5"], True, decisions=["d"])
    ev = fw.evaluate("d")
    assert (ev.lower_exact, ev.upper_exact) == (F(3, 10), F(2, 5))
    assert ev.lower <= ev.laplace <= ev.upper
    # closed world: worlds (¬a¬g), (a¬g), (ag) with P(g|a) = 1/2; entropy H(x) + x·log 2 peaks at P(a) = x = 2/3,
    # which lies inside [0.6, 0.8], so V^L = 2/3 · 1/2 = 1/3 (the interval does not bind)
    assert ev.laplace == pytest.approx(1 / 3, abs=1e-8)
    fw2 = fw_of(["a <- d : [0.7, 0.8]", "g <- a : 0.5"], True, decisions=["d"])
    assert fw2.evaluate("d").laplace == pytest.approx(0.35, abs=1e-8)  # now the lower bound 0.7 binds


def test_negated_literals_and_objectives():
    rules = ["a <- d : 0.5", "b <- d : 0.5", "g <- a : 1", "h <- b : 1"]
    all_ = fw_of(rules, True, decisions=["d"], goals={"g": 1, "h": 1}, objective="all").evaluate("d")
    assert (all_.lower_exact, all_.upper_exact) == (0, F(1, 2))  # Fréchet bounds across two components
    assert all_.laplace == pytest.approx(0.25, abs=1e-8)  # MaxEnt factorises: product
    any_ = fw_of(rules, True, decisions=["d"], goals={"g": 1, "h": 1}, objective="any").evaluate("d")
    assert (any_.lower_exact, any_.upper_exact) == (F(1, 2), 1)
    assert any_.laplace == pytest.approx(0.75, abs=1e-8)
    neg = fw_of(["not a <- d : 0.3", "g <- a : 1"], True, decisions=["d"]).evaluate("d")
    assert neg.lower_exact == neg.upper_exact == F(7, 10)


def test_ties_use_the_tolerance():
    fw = fw_of(["a <- d1 : 0.5", "a <- d2 : 0.5000000001", "g <- a : 1"], True)
    assert fw.optimal("optimistic") == ["d1", "d2"]
    assert fw.optimal("optimistic", tol=0.0) == ["d2"]


def test_global_semantics_equals_per_decision_when_every_rule_names_the_decision():
    rules = ["a1 <- d1 : 0.8", "a2 <- d1 : 0.3", "g <- a1, d1 : 0.7", "g <- a2, d1 : 0.65",
             "a1 <- d2 : 0.4", "a2 <- d2 : 0.9", "g <- a1, d2 : 0.7", "g <- a2, d2 : 0.65"]  # fmt: skip
    for cw in (True, False):
        per = fw_of(rules, cw)
        glob = fw_of(rules, cw, decision_semantics="global")
        for d in ("d1", "d2"):
            a, b = per.evaluate(d), glob.evaluate(d)
            assert b.lower == pytest.approx(a.lower, abs=1e-8) and b.upper == pytest.approx(a.upper, abs=1e-8)
            assert b.laplace == pytest.approx(a.laplace, abs=1e-6)  # H(π) = H(D) + Σ π(d) H(π | d)
        assert per.evaluate("d1").upper_exact == TABLE[(cw, "d1")][2]


def test_global_semantics_loosens_unconditional_rules():
    fw = Framework(load_problem(CONFIGS / "ablations" / "global_joint.yaml"))
    ev = fw.evaluate("d1")
    assert ev.lower == pytest.approx(0, abs=1e-9) and ev.upper == pytest.approx(1, abs=1e-9)
    assert 0 < ev.laplace < 1 and fw.check() == []
