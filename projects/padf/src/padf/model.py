"""Types shared by the framework and its evaluators (spec §4): sub-frameworks 𝓡_d, components, results.

This module imports nothing from the solvers, so the evaluators (``padf.exact`` for ``components``/``none``,
``padf.ria``, ``padf.global_joint``) depend on it and :mod:`padf.framework` depends on them, never the reverse. Each
evaluator is a strategy: it is given a :class:`SubFramework` (or, for the global-joint semantics, the problem) and
returns an :class:`Evaluation`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from padf.parse import Literal, Problem, Rule

if TYPE_CHECKING:
    import numpy as np

    from padf.lp import LPResult
    from padf.maxent import MaxEntResult
    from padf.worlds import ConstraintSystem

__all__ = [
    "CRITERIA",
    "Component",
    "ComponentResult",
    "Evaluation",
    "SubFramework",
    "SubRule",
    "rule_label",
    "within_bounds",
]

log = logging.getLogger(__name__)
CRITERIA = ("optimistic", "pessimistic", "laplace")


def rule_label(rule: Rule) -> str:
    return f"'{rule}'" + (f" (line {rule.line})" if rule.line else "")


@dataclass(frozen=True)
class SubRule:
    """A rule of 𝓡_d: the original rule with the decision literals removed from its body."""

    head: Literal
    body: tuple[Literal, ...]
    lo: Fraction
    hi: Fraction
    rule: Rule

    def as_tuple(self) -> tuple:
        return (self.head, self.body, self.lo, self.hi, rule_label(self.rule), self.rule.index)


@dataclass
class SubFramework:
    """𝓡_d for one decision ``d``: its rules, the closed-world supports, and the problem's options."""

    decision: str
    rules: list[SubRule]
    supports: dict[str, list[tuple[Literal, ...]]]  # P-CWA: atom -> its bodies that survive in 𝓡_d
    problem: Problem

    @classmethod
    def of(cls, problem: Problem, d: str) -> SubFramework:
        """Rules applicable when ``d`` is taken: decision literals evaluated and removed (decisions exclusive)."""
        if d not in problem.decisions:
            raise KeyError(f"unknown decision '{d}' (decisions: {', '.join(problem.decisions)})")
        dec = set(problem.decisions)
        out = []
        for r in problem.rules:
            body, alive = [], True
            for lit in r.body:
                if lit.atom in dec:
                    if (lit.atom == d) != lit.positive:
                        alive = False
                        break
                else:
                    body.append(lit)
            if alive:
                out.append(SubRule(r.head, tuple(body), r.lo, r.hi, r))
        sup: dict[str, list[tuple[Literal, ...]]] = {r.head.atom: [] for r in problem.rules if r.head.positive}
        for s in out:
            if s.head.positive:
                sup[s.head.atom].append(s.body)
        return cls(d, out, sup, problem)

    @property
    def atoms(self) -> tuple[str, ...]:
        """The non-decision atoms of the problem (sorted)."""
        return tuple(sorted(set(self.problem.atoms) - set(self.problem.decisions)))


@dataclass
class Component:
    atoms: tuple[str, ...]
    rules: list[SubRule]
    goals: dict[Literal, Fraction]


@dataclass
class ComponentResult:
    atoms: tuple[str, ...]
    n_worlds: int
    lower: float
    upper: float
    laplace: float
    lower_exact: Fraction | None = None
    upper_exact: Fraction | None = None
    residual: float = 0.0
    system: ConstraintSystem | None = None
    lp_min: LPResult | None = None
    lp_max: LPResult | None = None
    me: MaxEntResult | None = None
    support: np.ndarray | None = None
    rules: list[SubRule] = field(default_factory=list)
    laplace_raw: float = float("nan")  # the max-entropy expectation before the rounding snap into [lower, upper]


@dataclass
class Evaluation:
    """V⁻ ≤ V^L ≤ V⁺ of one decision, with exact LP values where certified and what the solver did."""

    decision: str
    lower: float
    laplace: float
    upper: float
    lower_exact: Fraction | None
    upper_exact: Fraction | None
    residual: float
    n_worlds: int
    n_components: int
    max_component_atoms: int
    independence: str
    approximate: bool
    notes: list[str] = field(default_factory=list)
    components: list[ComponentResult] = field(default_factory=list)

    def value(self, criterion: str, alpha: float = 0.5) -> float:
        if criterion == "optimistic":
            return self.upper
        if criterion == "pessimistic":
            return self.lower
        if criterion == "laplace":
            return self.laplace
        if criterion == "hurwicz":
            return alpha * self.upper + (1 - alpha) * self.lower
        raise ValueError(f"unknown criterion {criterion!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision, "pessimistic": self.lower, "laplace": self.laplace, "optimistic": self.upper,
            "pessimistic_exact": None if self.lower_exact is None else str(self.lower_exact),
            "optimistic_exact": None if self.upper_exact is None else str(self.upper_exact),
            "laplace_residual": self.residual, "n_worlds": self.n_worlds, "n_components": self.n_components,
            "max_component_atoms": self.max_component_atoms, "independence": self.independence,
            "approximate": self.approximate, "notes": list(self.notes),
        }  # fmt: skip


# V^L is the expectation under an iteratively solved max-entropy pi, V-/V+ are LP optima (certified rationals where
# exact): the ordering V- <= V^L <= V+ holds mathematically, but the float V^L can overshoot a bound by rounding (seen:
# 0.5000000000000001 against an exact 0.5, machine-dependent). A gap larger than the solver tolerance is a bug and is
# reported; a gap within it is rounding and is removed, so the reported triple is ordered on every machine.
ROUNDING_TOL = 1e-9


def within_bounds(value: float, lower: float, upper: float, residual: float, d: str) -> float:
    """``value`` snapped into ``[lower, upper]`` when it lies outside only by rounding; a larger gap is logged."""
    tol = ROUNDING_TOL * max(1.0, abs(lower), abs(upper)) + residual
    if not lower - tol <= value <= upper + tol:
        log.warning("under '%s': Laplace value %.12g outside [%.12g, %.12g] beyond the solver tolerance %.3g",
                    d, value, lower, upper, tol)  # fmt: skip
        return value
    return min(max(value, lower), upper)
