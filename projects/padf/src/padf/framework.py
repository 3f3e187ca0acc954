"""The decision framework (spec §4): per-decision sub-frameworks, component pruning, the three criteria, ranking.

For a decision ``d`` the sub-framework 𝓡_d keeps the rules whose body is compatible with ``d`` (``d`` deleted from
bodies, rules needing another decision dropped: decisions are mutually exclusive). Its atoms split into
atom-disjoint components; only components holding a goal are solved (exact lemma of §4 "Search space"), the others
are only checked for consistency. Per component: worlds + closed-world filter, two LPs (pessimistic / optimistic),
maximum entropy (Laplace). Components are recombined exactly: sums for weighted/count objectives, Fréchet bounds and
products for all/any.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from padf.errors import InconsistentError, SizeLimitError
from padf.lp import InfeasibleError, LPResult, feasible, solve_lp, support_mask
from padf.maxent import MaxEntResult, maxent
from padf.parse import Literal, Problem, Rule, load_problem, problem_from_dict
from padf.worlds import ConstraintSystem, build_system

__all__ = ["CRITERIA", "Component", "ComponentResult", "Evaluation", "Framework", "SubRule", "rule_label"]

log = logging.getLogger(__name__)
CRITERIA = ("optimistic", "pessimistic", "laplace")
_PREPASS_MAX_WORLDS = 1 << 14


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


class Framework:
    """A PADF decision problem: ``Framework.from_yaml(path).evaluate("d1")``, ``.optimal("laplace")``."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self._cache: dict[str, Evaluation] = {}
        self._cwa_heads = {r.head.atom for r in problem.rules if r.head.positive}

    @classmethod
    def from_yaml(cls, path: str | Path) -> Framework:
        """Load a YAML or JSON problem file (rules without ``p`` are fitted from the ``fit`` section's cases)."""
        prob = load_problem(path)
        if prob.fit:
            from padf.fit import fit_problem

            prob = fit_problem(prob)
        return cls(prob)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Framework:
        return cls(problem_from_dict(data))

    # ------------------------------------------------------------------------------------------ sub-frameworks
    def subframework(self, d: str) -> list[SubRule]:
        """𝓡_d: rules applicable when ``d`` is taken (decision literals evaluated and removed)."""
        if d not in self.problem.decisions:
            raise KeyError(f"unknown decision '{d}' (decisions: {', '.join(self.problem.decisions)})")
        dec = set(self.problem.decisions)
        out = []
        for r in self.problem.rules:
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
        return out

    def supports(self, sub: list[SubRule]) -> dict[str, list[tuple[Literal, ...]]]:
        """P-CWA: for every atom heading a positive rule of the full problem, its bodies that survive in 𝓡_d."""
        sup: dict[str, list[tuple[Literal, ...]]] = {h: [] for h in self._cwa_heads}
        for s in sub:
            if s.head.positive:
                sup[s.head.atom].append(s.body)
        return sup

    def components(self, d: str, independence: str | None = None) -> tuple[list[Component], list[Component]]:
        """(relevant, other) components of 𝓡_d; with ``independence: none`` a single component of all atoms."""
        mode = independence or self.problem.independence
        sub = self.subframework(d)
        goals = self.problem.goals
        dec = set(self.problem.decisions)
        atoms = sorted(set(self.problem.atoms) - dec)
        if mode == "none":
            return [Component(tuple(atoms), sub, dict(goals))], []
        idx = {a: i for i, a in enumerate(atoms)}
        edges = [(idx[s.head.atom], idx[b.atom]) for s in sub for b in s.body]
        graph = sp.coo_matrix((np.ones(len(edges)), ([i for i, _ in edges], [j for _, j in edges])),
                              shape=(len(atoms), len(atoms)))  # fmt: skip
        _, labels = connected_components(graph, directed=False)
        groups: dict[int, list[str]] = {}
        for a, lab in zip(atoms, labels.tolist()):
            groups.setdefault(lab, []).append(a)
        goal_atoms = {g.atom for g in goals}
        rel, other = [], []
        for members in sorted(groups.values()):
            ms = set(members)
            comp = Component(
                tuple(sorted(members)),
                [s for s in sub if s.head.atom in ms],
                {g: w for g, w in goals.items() if g.atom in ms},
            )
            (rel if ms & goal_atoms else other).append(comp)
        return rel, [c for c in other if c.rules]

    def related_atoms(self, d: str, query: list[str] | None = None) -> set[str]:
        """𝓛_φ: atoms connected to the query atoms (default: the goals) through the rules of 𝓡_d."""
        q = set(query or [g.atom for g in self.problem.goals])
        rel, other = self.components(d, "components")
        return {a for c in rel + other if q & set(c.atoms) for a in c.atoms}

    # -------------------------------------------------------------------------------------------- solving
    def _system(self, d: str, comp: Component, rules: list[SubRule] | None = None) -> ConstraintSystem:
        p = self.problem
        if len(comp.atoms) > p.max_atoms:
            raise SizeLimitError(
                f"under decision '{d}' a component has {len(comp.atoms)} atoms (2^{len(comp.atoms)} worlds), more "
                f"than max_atoms={p.max_atoms}; raise --max-atoms, or use 'independence: ria' (polynomial on "
                "tree-like rules)"
            )
        sub = self.subframework(d)
        sup = {h: b for h, b in self.supports(sub).items() if h in set(comp.atoms)}
        rules = comp.rules if rules is None else rules
        return build_system(comp.atoms, [s.as_tuple() for s in rules], sup, p.closed_world)

    def offending_rules(self, d: str, comp: Component) -> list[str]:
        """A minimal infeasible subset of the component's rules (deletion filter: one LP per rule)."""
        keep = list(comp.rules)
        for s in list(keep):
            trial = [x for x in keep if x is not s]
            if not feasible(self._system(d, comp, trial)):
                keep = trial
        return [rule_label(s.rule) for s in keep]

    def offending_global(self, system: ConstraintSystem) -> list[str]:
        """Deletion filter over the rules of the global joint (rows grouped by rule)."""
        ids = sorted({r.rule_id for r in system.rows})
        keep = list(ids)
        for rid in ids:
            trial = [x for x in keep if x != rid]
            if not feasible(system, [r for r in system.rows if r.rule_id in trial]):
                keep = trial
        by_id = {r.index: r for r in self.problem.rules}
        return [rule_label(by_id[i]) for i in keep]

    def _inconsistent(self, d: str, comp: Component) -> InconsistentError:
        cw = " (closed world)" if self.problem.closed_world else ""
        return InconsistentError(f"the rules are inconsistent under decision '{d}'{cw}", self.offending_rules(d, comp))

    def _solve_component(self, d: str, comp: Component) -> ComponentResult:
        p = self.problem
        system = self._system(d, comp)
        N = system.n_worlds
        mask = None
        if N <= _PREPASS_MAX_WORLDS:
            mask = support_mask(system)
            if mask is None:
                raise self._inconsistent(d, comp)
        c = system.objective(comp.goals, p.objective)
        exact = len(comp.atoms) <= p.exact_max_atoms
        ec = system.exact_objective(comp.goals, p.objective) if exact else None
        try:
            hi = solve_lp(system, c, True, ec)
        except InfeasibleError:
            raise self._inconsistent(d, comp) from None
        lo = solve_lp(system, c, False, ec)
        res = ComponentResult(comp.atoms, N, lo.value, hi.value, float("nan"), lo.exact, hi.exact, 0.0, system,
                              lo, hi, rules=comp.rules)  # fmt: skip
        if p.laplace == "midpoint":
            res.laplace = res.laplace_raw = (lo.value + hi.value) / 2
            return res
        me = self._maxent(system, mask)
        if mask is None and me.residual > 1e-8:  # large component: remove the forced-zero worlds and retry
            mask = support_mask(system)
            me = self._maxent(system, mask)
        res.me, res.support, res.residual = me, mask, me.residual
        cm = c if mask is None else c[mask]
        res.laplace_raw = float(cm @ me.pi)
        res.laplace = _within_bounds(res.laplace_raw, res.lower, res.upper, me.residual, d)
        return res

    @staticmethod
    def _maxent(system: ConstraintSystem, mask: np.ndarray | None) -> MaxEntResult:
        A_eq, b_eq, A_ge, b_ge = system.matrices()
        if mask is not None:
            A_eq, A_ge = A_eq[:, mask], A_ge[:, mask]
        return maxent(A_eq.tocsr(), b_eq, A_ge.tocsr(), b_ge)

    def evaluate(self, d: str, *, details: bool = False) -> Evaluation:
        """V⁻, V^L, V⁺ of decision ``d`` (cached)."""
        if d in self._cache and (not details or self._cache[d].components):
            return self._cache[d]
        p = self.problem
        if p.decision_semantics == "global":
            from padf.global_joint import evaluate_global

            ev = evaluate_global(self, d)
            self._cache[d] = ev
            return ev
        if p.independence == "ria":
            from padf.ria import evaluate_ria

            ev = evaluate_ria(self, d)
            self._cache[d] = ev
            return ev
        rel, other = self.components(d)
        for comp in other:  # the lemma needs every pruned component to be consistent
            if not feasible(self._system(d, comp)):
                raise self._inconsistent(d, comp)
        results = [self._solve_component(d, comp) for comp in rel]
        ev = _combine(d, results, p)
        if not details:
            for r in ev.components:
                r.system = r.lp_min = r.lp_max = r.me = r.support = None
        self._cache[d] = ev
        return ev

    def evaluate_all(self) -> dict[str, Evaluation]:
        return {d: self.evaluate(d) for d in self.problem.decisions}

    def optimal(self, criterion: str, tol: float | None = None, alpha: float = 0.5) -> list[str]:
        """All decisions within ``tol`` (default: the problem's tie tolerance, 1e-9) of the best value."""
        tol = self.problem.tie_tolerance if tol is None else tol
        vals = {d: ev.value(criterion, alpha) for d, ev in self.evaluate_all().items()}
        best = max(vals.values())
        return [d for d in self.problem.decisions if vals[d] >= best - tol]

    def lint(self) -> list[str]:
        """Structural warnings: an atom that only occurs in rule bodies, heads no rule and is not declared (in
        ``attributes`` or as a goal) is free in every world: usually a typo. Each warning names the rules."""
        p = self.problem
        heads = {r.head.atom for r in p.rules}
        declared = set(p.decisions) | set(p.attributes) | {g.atom for g in p.goals} | heads
        where: dict[str, list[str]] = {}
        for r in p.rules:
            for b in r.body:
                if b.atom not in declared:
                    where.setdefault(b.atom, []).append(rule_label(r))
        msg = "it heads no rule and is not declared in 'attributes', so it is a free atom (a typo?)"
        return [f"atom '{a}' appears only in the body of rule {', '.join(dict.fromkeys(rs))}: {msg}"
                for a, rs in sorted(where.items())]  # fmt: skip

    def check(self) -> list[str]:
        """Raise InconsistentError (naming a minimal set of offending rules) if some 𝓡_d admits no distribution;
        return warnings (vacuous rules, whose body has probability 0 in every consistent distribution)."""
        warnings: list[str] = self.lint()
        if self.problem.decision_semantics == "global":
            from padf.global_joint import global_system

            system = global_system(self)
            mask = support_mask(system)
            if mask is None:
                raise InconsistentError("the rules are inconsistent (global joint)", self.offending_global(system))
            col = {a: i for i, a in enumerate(system.atoms)}
            for d in self.problem.decisions:
                if not (system.W[mask, col[d]]).any():
                    raise InconsistentError(f"decision '{d}' has probability 0 in every consistent global joint")
            return warnings
        for d in self.problem.decisions:
            rel, other = self.components(d, "components")
            for comp in rel + other:
                system = self._system(d, comp)
                mask = support_mask(system) if system.n_worlds <= _PREPASS_MAX_WORLDS else None
                if mask is None and (system.n_worlds <= _PREPASS_MAX_WORLDS or not feasible(system)):
                    raise self._inconsistent(d, comp)
                if mask is not None:
                    for row in system.rows:
                        if row.b.any() and not (row.b & mask).any():
                            warnings.append(f"under '{d}': rule {row.label} is vacuous (its body has probability 0)")
        return sorted(set(warnings))

    def distribution(self, d: str, which: str = "maxent") -> list[tuple[dict[str, bool], float]]:
        """The π attaining the pessimistic ('min'), optimistic ('max') or Laplace ('maxent') value, per world."""
        ev = self.evaluate(d, details=True)
        out = []
        for r in ev.components:
            if which == "maxent" and r.me is not None:
                W = r.system.W if r.support is None else r.system.W[r.support]
                pi = r.me.pi
            else:
                lp = r.lp_min if which == "min" else r.lp_max
                W, pi = r.system.W, lp.pi
            for w, v in zip(W, pi):
                if v > 1e-12:
                    out.append((dict(zip(r.atoms, map(bool, w))), float(v)))
        return out


# V^L is the expectation under an iteratively solved max-entropy pi, V-/V+ are LP optima (certified rationals where
# exact): the ordering V- <= V^L <= V+ holds mathematically, but the float V^L can overshoot a bound by rounding (seen:
# 0.5000000000000001 against an exact 0.5, machine-dependent). A gap larger than the solver tolerance is a bug and is
# reported; a gap within it is rounding and is removed, so the reported triple is ordered on every machine.
_ROUNDING_TOL = 1e-9


def _within_bounds(value: float, lower: float, upper: float, residual: float, d: str) -> float:
    """``value`` snapped into ``[lower, upper]`` when it lies outside only by rounding; a larger gap is logged."""
    tol = _ROUNDING_TOL * max(1.0, abs(lower), abs(upper)) + residual
    if not lower - tol <= value <= upper + tol:
        log.warning("under '%s': Laplace value %.12g outside [%.12g, %.12g] beyond the solver tolerance %.3g",
                    d, value, lower, upper, tol)  # fmt: skip
        return value
    return min(max(value, lower), upper)


def _combine(d: str, results: list[ComponentResult], p: Problem) -> Evaluation:
    """Exact recombination of per-component values (§4 lemma): sum / Fréchet bounds / products."""
    k = len(results)
    exact = all(r.lower_exact is not None and r.upper_exact is not None for r in results)
    lows, ups, laps = [r.lower for r in results], [r.upper for r in results], [r.laplace for r in results]
    le = [r.lower_exact for r in results]
    ue = [r.upper_exact for r in results]
    if p.objective in ("weighted", "count"):
        lower, upper, lap = sum(lows), sum(ups), sum(laps)
        lx, ux = (sum(le, Fraction(0)), sum(ue, Fraction(0))) if exact else (None, None)
    elif p.objective == "all":
        lower, upper, lap = max(0.0, sum(lows) - (k - 1)), min(ups), math.prod(laps)
        lx, ux = (max(Fraction(0), sum(le, Fraction(0)) - (k - 1)), min(ue)) if exact else (None, None)
    else:  # any
        lower, upper, lap = max(lows), min(1.0, sum(ups)), 1 - math.prod(1 - x for x in laps)
        lx, ux = (max(le), min(Fraction(1), sum(ue, Fraction(0)))) if exact else (None, None)
    if p.laplace == "midpoint":
        lap = (lower + upper) / 2
    elif results:  # 1 - Π(1 - x) and friends round too (seen: 0.09999999999999998 against an exact 0.1)
        lap = _within_bounds(lap, float(lx) if lx is not None else lower, float(ux) if ux is not None else upper,
                             max(r.residual for r in results), d)  # fmt: skip
    notes = []
    if not exact and any(len(r.atoms) <= p.exact_max_atoms for r in results):
        notes.append("exact rational check failed for a component; LP values are floating point")
    return Evaluation(
        d, float(lx) if lx is not None else lower, lap, float(ux) if ux is not None else upper, lx, ux,
        max((r.residual for r in results), default=0.0), sum(r.n_worlds for r in results), k,
        max((len(r.atoms) for r in results), default=0), p.independence, False, notes, results,
    )  # fmt: skip
