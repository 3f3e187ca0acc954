"""Invariants of spec §6 as property tests over seeded random acyclic D→A→G tables (hypothesis)."""

from __future__ import annotations

import random
from fractions import Fraction as F

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from padf.errors import InconsistentError
from padf.framework import Framework

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
probs = st.sampled_from([F(k, 10) for k in range(11)])


@st.composite
def tables(draw, binary: bool = False):
    n_d, n_a = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    p = st.sampled_from([F(0), F(1)]) if binary else probs
    t_da = [[draw(p) for _ in range(n_a)] for _ in range(n_d)]
    t_ga = [draw(p) for _ in range(n_a)]
    for a in range(n_a):  # every attribute caused by some decision, the goal supported by some attribute
        if all(t_da[d][a] == 0 for d in range(n_d)):
            t_da[0][a] = F(1) if binary else F(1, 2)
    if all(x == 0 for x in t_ga):
        t_ga[0] = F(1) if binary else F(1, 2)
    return t_da, t_ga, draw(st.booleans())


def rules_of(t_da, t_ga, names=None):
    names = names or {}
    n = lambda x: names.get(x, x)  # noqa: E731
    out = [f"{n(f'a{a}')} <- {n(f'd{d}')} : {p}" for d, row in enumerate(t_da) for a, p in enumerate(row) if p > 0]
    out += [f"{n('g')} <- {n(f'a{a}')} : {p}" for a, p in enumerate(t_ga) if p > 0]
    return out


def framework(t_da, t_ga, cw, names=None, extra=(), shuffle_seed=None, **kw):
    names = names or {}
    rules = rules_of(t_da, t_ga, names) + list(extra)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rules)
    decisions = [names.get(f"d{d}", f"d{d}") for d in range(len(t_da))]
    return Framework.from_dict({"decisions": decisions, "goals": {names.get("g", "g"): 1}, "rules": rules,
                                "closed_world": cw, **kw})  # fmt: skip


def consistent(fw: Framework) -> bool:
    try:
        fw.check()
    except InconsistentError:
        return False
    return True


def test_tables_can_be_inconsistent():
    """Counterexample (found by hypothesis) to the spec's expected theorem "Π_d ≠ ∅ for table-generated rules":
    P(a0)=.5, P(a1)=.7, P(g|a0)=.1, P(g|a1)=.8 force P(g∧a1) ≤ .05 + P(a1∧¬a0) ≤ .55 < .56."""
    fw = framework([[F(1, 2), F(7, 10)]], [F(1, 10), F(4, 5)], False)
    with pytest.raises(InconsistentError) as e:
        fw.check()
    assert len(e.value.offending) == 4


@SETTINGS
@given(tables())
def test_pessimistic_le_laplace_le_optimistic(t):
    fw = framework(*t)
    assume(consistent(fw))
    for d in fw.problem.decisions:
        ev = fw.evaluate(d)
        assert ev.lower_exact is not None and ev.upper_exact is not None
        assert ev.lower_exact <= ev.upper_exact
        assert float(ev.lower_exact) - 1e-9 <= ev.laplace <= float(ev.upper_exact) + 1e-9
        assert ev.residual < 1e-8


@SETTINGS
@given(tables(), st.integers(0, 10**6))
def test_rule_and_atom_order_do_not_matter(t, seed):
    a = framework(*t)
    assume(consistent(a))
    # rename atoms so that their sorted order is reversed, and shuffle the rules
    names = {f"a{i}": f"z{9 - i}" for i in range(3)} | {"g": "b_goal", "d0": "y_d", "d1": "x_d"}
    b = framework(*t, names=names, shuffle_seed=seed)
    for i, d in enumerate(a.problem.decisions):
        ea, eb = a.evaluate(d), b.evaluate(b.problem.decisions[i])
        assert (ea.lower_exact, ea.upper_exact) == (eb.lower_exact, eb.upper_exact)
        assert ea.laplace == pytest.approx(eb.laplace, abs=1e-8)


@SETTINGS
@given(tables(), probs, probs)
def test_unrelated_component_changes_nothing(t, p, q):
    a = framework(*t)
    assume(consistent(a))
    b = framework(*t, extra=[f"c <- : {p}", f"e <- c : {q}", f"e <- d0 : {q}"])
    for d in a.problem.decisions:
        ea, eb = a.evaluate(d), b.evaluate(d)
        assert (ea.lower_exact, ea.upper_exact) == (eb.lower_exact, eb.upper_exact)
        assert ea.laplace == pytest.approx(eb.laplace, abs=1e-8)


@SETTINGS
@given(tables(), probs, probs)
def test_inconsistency_is_reported(t, p, q):
    if p == q:
        q = 1 - p if p != F(1, 2) else F(0)
    assume(consistent(framework(*t)))
    fw = framework(*t, extra=[f"a0 <- d0 : {p}", f"a0 <- d0 : {q}"])
    with pytest.raises(InconsistentError) as e:
        fw.check()
    added = {f"'a0 <- d0 : {r.prob_text()}'" for r in fw.problem.rules[-2:]}
    assert added & set(e.value.offending)  # the base is consistent, so a minimal conflict uses an added rule


@SETTINGS
@given(tables(binary=True))
def test_zero_one_tables_reproduce_fan_toni_meets(t):
    t_da, t_ga, _ = t
    fw = framework(t_da, t_ga, True)  # 0/1 tables are always consistent (the crisp world is a distribution)
    for i, d in enumerate(fw.problem.decisions):
        meets = any(t_da[i][a] == 1 and t_ga[a] == 1 for a in range(len(t_ga)))
        ev = fw.evaluate(d)
        assert ev.lower_exact == ev.upper_exact == (1 if meets else 0)
        assert ev.laplace == pytest.approx(float(meets), abs=1e-8)
