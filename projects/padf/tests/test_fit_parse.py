"""Parsing details (§7 schema), confidence intervals, the shipped case table and the independence approximation."""

from __future__ import annotations

from fractions import Fraction as F

import pandas as pd
import pytest

from padf.cases import generate_cases, shipped_cases_path, true_utilities
from padf.errors import ParseError, SizeLimitError
from padf.fit import clopper_pearson, estimate, fit_rules, read_cases, wilson
from padf.framework import Framework
from padf.parse import Literal, parse_probability, parse_rule, problem_from_dict


def test_rule_strings_mappings_fractions_intervals():
    r = parse_rule("not b <- a2, not c : 1/3")
    assert r.head == Literal("b", False) and r.body == (Literal("a2"), Literal("c", False)) and r.lo == F(1, 3)
    assert parse_rule({"a1 <- d1": 0.8}).lo == F(4, 5)  # YAML's reading of an unquoted '- a1 <- d1 : 0.8'
    m = parse_rule({"head": "g", "body": ["a1"], "p": [0.2, "1/2"]})
    assert (m.lo, m.hi) == (F(1, 5), F(1, 2)) and str(m) == "g <- a1 : [0.2, 0.5]"
    assert parse_rule("a : 0.5").body == () and parse_rule("a <- : 50%").lo == F(1, 2)
    assert parse_rule("x ← ¬y : 0.1").body == (Literal("y", False),)
    assert parse_probability("[0.1, 0.3]") == (F(1, 10), F(3, 10))
    for bad in ("a <- b, , c : 0.5", "a <- b, not b : 0.5", "a <- b : x"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_error_names_line_and_rule(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("decisions: [d]\ngoals: {a: 1}\nrules:\n  - 'a <- d : 0.5'\n  - {head: a, body: [d], p: 2}\n")
    from padf.parse import load_problem

    with pytest.raises(ParseError, match=r"p\.yaml:5: rule .*rule 2: probability 2 is outside \[0, 1\]"):
        load_problem(f)


def test_goal_weights_lists_and_negated_goals():
    p = problem_from_dict({"decisions": ["d"], "goals": ["a", "not b"], "rules": ["a <- d : 0.5", "b <- d : 0.25"]})
    assert p.goals == {Literal("a"): 1, Literal("b", False): 1}
    ev = Framework(p).evaluate("d")
    assert ev.lower_exact == ev.upper_exact == F(5, 4)


def test_wilson_and_clopper_pearson_known_values():
    lo, hi = wilson(8, 10, 0.95)  # textbook value: (0.4902, 0.9433)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    lo, hi = clopper_pearson(0, 10, 0.95)  # closed form: upper = 1 - 0.025^(1/10)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    lo, hi = clopper_pearson(10, 10, 0.95)
    assert hi == 1 and lo == pytest.approx(0.025 ** (1 / 10), abs=1e-12)
    e_lo, e_hi = estimate(8, 10, "wilson", 0.95)  # rounded outwards to 6 decimals, exact fractions
    assert e_lo <= F(wilson(8, 10, 0.95)[0]) and e_hi >= F(wilson(8, 10, 0.95)[1])
    assert e_lo.denominator <= 10**6 and estimate(3, 4) == (F(3, 4), F(3, 4))
    cp, wi = clopper_pearson(30, 100, 0.9), wilson(30, 100, 0.9)
    assert cp[0] < wi[0] and cp[1] > wi[1]  # Clopper-Pearson is the more conservative


def test_shipped_cases_are_regenerated_by_the_seeded_script():
    shipped = pd.read_csv(shipped_cases_path())
    pd.testing.assert_frame_equal(shipped, generate_cases(600, 0))
    assert not generate_cases(50, 1).equals(generate_cases(50, 2))
    # the generator respects the closed-world reading: recovery only through one of the two mechanisms
    assert not ((shipped.recovered == 1) & (shipped.inflammation_down == 0) & (shipped.fever_down == 0)).any()


def test_fit_recovers_the_generating_probabilities():
    df = generate_cases(20000, 3)
    rules = tuple(
        parse_rule(f"inflammation_down <- {t} : 0", index=i) for i, t in enumerate(("ibuprofen", "combination"))
    )
    cases = read_cases_from_frame(df)
    new, table = fit_rules(rules, cases, "wilson", 0.99)
    assert [t["n"] for t in table] == [
        int((df.treatment == "ibuprofen").sum()),
        int((df.treatment == "combination").sum()),
    ]
    for r, true in zip(new, (0.75, 0.80)):
        assert r.lo <= true <= r.hi


def read_cases_from_frame(df: pd.DataFrame) -> pd.DataFrame:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        df.to_csv(p, index=False)
        return read_cases(p, ["inflammation_down", "fever_down", "tolerated", "recovered"],
                          ["ibuprofen", "paracetamol", "combination"], "treatment")  # fmt: skip


def test_point_fit_on_a_large_sample_picks_the_truly_best_treatment_under_laplace(tmp_path):
    """With the full structure and many cases, the Laplace choice matches the generator's best treatment."""
    from padf.fit import fit_problem
    from padf.parse import load_problem

    p = tmp_path / "cases.csv"
    generate_cases(20000, 5).to_csv(p, index=False)
    prob = load_problem(shipped_cases_path().parent.parent / "default.yaml")
    prob = fit_problem(prob, cases=p, estimator="point")
    truth = true_utilities()
    best = max(truth, key=truth.get)
    fw = Framework(prob)
    assert fw.optimal("laplace") == [best]
    for d, ev in fw.evaluate_all().items():
        assert ev.lower - 0.02 <= truth[d] <= ev.upper + 0.02


def _pair(rules, goals, **kw):
    base = {"decisions": ["d"], "goals": goals, "rules": rules, **kw}
    return Framework.from_dict(base).evaluate("d"), Framework.from_dict({**base, "independence": "ria"}).evaluate("d")


def test_ria_is_exact_on_chains():
    rules = ["a <- d : 0.8", "b <- a : 0.7", "b <- not a : 0.1", "g <- b : 0.6"]
    for cw in (True, False):
        e, r = _pair(rules, {"g": 1}, closed_world=cw)
        assert r.notes and not r.approximate and not e.approximate
        assert r.lower == pytest.approx(e.lower, abs=1e-9) and r.upper == pytest.approx(e.upper, abs=1e-9)
        assert r.laplace == pytest.approx(e.laplace, abs=1e-7)


def test_ria_issue_counterexamples():
    """Issue 23: a goal that is another's parent (exact 9/50), and {g, not g} (exactly 1, not [0.5, 1.5])."""
    _, r = _pair(["a <- d : 0.6", "g <- a : 0.3"], ["a", "g"], objective="all")
    for v in (r.lower, r.laplace, r.upper):
        assert v == pytest.approx(9 / 50, abs=1e-9)
    _, r = _pair(["a <- d : 0.6", "g <- a : 0.3"], {"g": 1, "not g": 1}, closed_world=False)
    for v in (r.lower, r.laplace, r.upper):
        assert v == pytest.approx(1.0, abs=1e-9)


def test_ria_keeps_the_worked_example_bounds():
    rules = ["a1 <- d : 0.8", "a2 <- d : 0.3", "g <- a1 : 0.7", "g <- a2 : 0.65"]
    _, r = _pair(rules, {"g": 1})
    assert (r.lower, r.upper) == pytest.approx((0.56, 0.755), abs=1e-9)  # the exact polytope, not a narrowing
    assert r.laplace == pytest.approx(0.603012, abs=1e-6) and r.residual < 1e-8


@pytest.mark.parametrize("cw", [True, False])
def test_ria_star_matches_exact_and_splits_the_closed_world_family(cw):
    """A tabular D -> A -> G star (in-degree 6): same values; no clique holds the goal's whole family."""
    rules = [f"a{i} <- d : {(i + 2) / 10}" for i in range(6)] + [f"g <- a{i} : {(9 - i) / 10}" for i in range(6)]
    e, r = _pair(rules, {"g": 1}, closed_world=cw)
    assert r.lower == pytest.approx(e.lower, abs=1e-8) and r.upper == pytest.approx(e.upper, abs=1e-8)
    assert r.laplace == pytest.approx(e.laplace, abs=1e-6)
    assert r.max_component_atoms <= 4 < 7


def test_ria_refuses_a_graph_that_is_not_tree_like():
    rules = ["g <- a, b, c : 0.5", "a <- d : 0.5", "b <- d : 0.5", "c <- d : 0.5"]
    fw = Framework.from_dict({"decisions": ["d"], "goals": {"g": 1}, "rules": rules, "independence": "ria",
                              "max_atoms": 3})  # fmt: skip
    with pytest.raises(SizeLimitError, match="not tree-like"):
        fw.evaluate("d")
