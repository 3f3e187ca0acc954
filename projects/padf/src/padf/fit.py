"""Learning the rules' probabilities from recorded cases (the practical front end the paper motivates, §2:
"probabilities are hard to assess reliably"). Not in the paper: our addition, as the issue asks.

For every rule ``head <- body`` of a structure file, the cases where the body holds are counted (``n``) and among
them those where the head holds (``k``). The rule's probability becomes the point estimate ``k/n`` (exact, a
Fraction) or a two-sided confidence interval at ``level``: Wilson score or Clopper–Pearson (exact binomial).
Interval endpoints are rounded outwards to 6 decimals so the written problem file stays exact and conservative.

The case table is a CSV with one 0/1 (or true/false) column per atom and either a ``decision_column`` naming the
decision taken in each case or one 0/1 column per decision.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from padf.errors import ParseError
from padf.parse import Problem, Rule
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["clopper_pearson", "estimate", "fit_problem", "fit_rules", "read_cases", "wilson"]

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def wilson(k: int, n: int, level: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (``scipy.stats.binomtest(...).proportion_ci``)."""
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Clopper–Pearson ("exact") interval (``scipy.stats.binomtest(...).proportion_ci(method="exact")``)."""
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def estimate(k: int, n: int, estimator: str = "point", level: float = 0.95) -> tuple[Fraction, Fraction]:
    """(lo, hi) as Fractions; ``point`` gives lo == hi == k/n exactly."""
    if n <= 0:
        raise ValueError("no case satisfies the body")
    if estimator == "point":
        return Fraction(k, n), Fraction(k, n)
    lo, hi = (wilson if estimator == "wilson" else clopper_pearson)(k, n, level)
    q = 10**6
    return Fraction(math.floor(lo * q), q), Fraction(math.ceil(hi * q), q)


def read_cases(path: str | Path, atoms: list[str], decisions: list[str], decision_column: str | None) -> pd.DataFrame:
    """Boolean frame with one column per atom and per decision, validated against the structure."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("cases", path.parent, missing=[path.name],
                                hint="Pass a CSV of recorded cases (one 0/1 column per atom).")  # fmt: skip
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataFormatError(path, f"not a readable CSV ({str(e).splitlines()[0]})") from None
    header = ", ".join([decision_column or "<one column per decision>", *atoms])
    out = pd.DataFrame(index=df.index)
    if decision_column:
        if decision_column not in df:
            raise DataFormatError(path, f"no decision column '{decision_column}'", expected=f"columns {header}")
        vals = df[decision_column].astype(str)
        unknown = sorted(set(vals) - set(decisions))
        if unknown:
            raise DataFormatError(path, f"column '{decision_column}' has values {unknown[:3]} that are not decisions",
                                  expected=f"one of {list(decisions)}")  # fmt: skip
        for d in decisions:
            out[d] = vals == d
    missing = [a for a in atoms + ([] if decision_column else decisions) if a not in df]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing}", expected=f"columns {header}")
    for a in atoms + ([] if decision_column else decisions):
        col = df[a].astype(str).str.strip().str.lower()
        bad = sorted(set(col) - _TRUE - _FALSE)
        if bad:
            raise DataFormatError(path, f"column '{a}' has non-boolean values {bad[:3]}", expected="0/1 or true/false")
        out[a] = col.isin(_TRUE)
    return out


def fit_rules(
    rules: tuple[Rule, ...], cases: pd.DataFrame, estimator: str = "point", level: float = 0.95, min_support: int = 1
) -> tuple[list[Rule], list[dict[str, Any]]]:
    """Estimate every rule's probability from the cases; returns the new rules and a per-rule table."""
    new, table = [], []
    for r in rules:
        mask = np.ones(len(cases), dtype=bool)
        for lit in r.body:
            v = cases[lit.atom].to_numpy()
            mask &= v if lit.positive else ~v
        head = cases[r.head.atom].to_numpy()
        head = head if r.head.positive else ~head
        n, k = int(mask.sum()), int((mask & head).sum())
        if n < max(1, min_support):
            body = ", ".join(map(str, r.body)) or "(empty body)"
            raise ParseError(f"only {n} case(s) satisfy the body {body} (min_support={min_support}); "
                             "cannot estimate its probability", line=r.line, rule=str(r).split(" : ")[0])  # fmt: skip
        lo, hi = estimate(k, n, estimator, level)
        nr = Rule(r.head, r.body, lo, hi, line=r.line, index=r.index)
        new.append(nr)
        table.append({"rule": str(nr).rsplit(" : ", 1)[0], "n": n, "k": k, "estimate": k / n,
                      "lo": float(lo), "hi": float(hi)})  # fmt: skip
    return new, table


def fit_problem(
    prob: Problem, cases: str | Path | None = None, estimator: str | None = None, level: float | None = None,
    decision_column: str | None = None, return_table: bool = False,
) -> Problem | tuple[Problem, list[dict[str, Any]]]:  # fmt: skip
    """Fill every rule's probability from the cases named in ``prob.fit`` (or the arguments, which override it)."""
    cfg = dict(prob.fit or {})
    cases = cases or cfg.get("cases")
    if not cases:
        raise ParseError("no case table: give CASES.csv or a 'fit: {cases: ...}' section", path=prob.source)
    path = Path(cases)
    if not path.is_absolute() and not path.exists() and prob.base_dir:
        path = Path(prob.base_dir) / path
    dcol = decision_column if decision_column is not None else cfg.get("decision_column")
    est = estimator or cfg.get("estimator", "point")
    lvl = float(level if level is not None else cfg.get("level", 0.95))
    if not 0 < lvl < 1:
        raise ParseError(f"confidence level must be in (0, 1), got {lvl:g}")
    atoms = [a for a in prob.atoms if a not in prob.decisions]
    df = read_cases(path, atoms, list(prob.decisions), dcol)
    rules, table = fit_rules(prob.rules, df, est, lvl, int(cfg.get("min_support", 1)))
    desc = f"rules fitted from {path.name} ({len(df)} cases, {est}" + (f" {lvl:g})" if est != "point" else ")")
    out = prob.with_(rules=tuple(rules), fit=None, description=(prob.description + " | " if prob.description else "")
                     + desc)  # fmt: skip
    return (out, table) if return_table else out
