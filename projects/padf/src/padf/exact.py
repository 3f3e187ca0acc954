"""The exact evaluator (``independence: components`` and ``none``; spec §4, algorithm steps 2–6) as a strategy over
one sub-framework 𝓡_d.

𝓡_d's atoms split into atom-disjoint components; only components holding a goal are solved (exact lemma of §4
"Search space"), the others are only checked for consistency. Per component: worlds + closed-world filter, two LPs
(pessimistic / optimistic), maximum entropy (Laplace). Components are recombined exactly: sums for weighted/count
objectives, Fréchet bounds and products for all/any. With ``none`` all atoms form one component.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from padf.errors import InconsistentError, SizeLimitError
from padf.lp import InfeasibleError, decide_feasible, solve_lp, support_mask
from padf.maxent import MaxEntResult, maxent
from padf.model import Component, ComponentResult, Evaluation, SubFramework, SubRule, rule_label, within_bounds
from padf.parse import Problem
from padf.worlds import ConstraintSystem, build_system

__all__ = ["check_components", "component_system", "evaluate_components", "inconsistent_error", "split_components"]

PREPASS_MAX_WORLDS = 1 << 14


def split_components(sf: SubFramework, mode: str = "components") -> tuple[list[Component], list[Component]]:
    """(relevant, other) components of 𝓡_d; with ``mode='none'`` a single component of all atoms."""
    goals = sf.problem.goals
    atoms = sf.atoms
    if mode == "none":
        return [Component(atoms, sf.rules, dict(goals))], []
    idx = {a: i for i, a in enumerate(atoms)}
    edges = [(idx[s.head.atom], idx[b.atom]) for s in sf.rules for b in s.body]
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
            [s for s in sf.rules if s.head.atom in ms],
            {g: w for g, w in goals.items() if g.atom in ms},
        )
        (rel if ms & goal_atoms else other).append(comp)
    return rel, [c for c in other if c.rules]


def component_system(sf: SubFramework, comp: Component, rules: list[SubRule] | None = None) -> ConstraintSystem:
    p = sf.problem
    if len(comp.atoms) > p.max_atoms:
        raise SizeLimitError(
            f"under decision '{sf.decision}' a component has {len(comp.atoms)} atoms (2^{len(comp.atoms)} worlds), "
            f"more than max_atoms={p.max_atoms}; raise --max-atoms, or use 'independence: ria' (polynomial on "
            "tree-like rules)"
        )
    ms = set(comp.atoms)
    sup = {h: b for h, b in sf.supports.items() if h in ms}
    rules = comp.rules if rules is None else rules
    return build_system(comp.atoms, [s.as_tuple() for s in rules], sup, p.closed_world)


def _exact_ok(sf: SubFramework, comp: Component) -> bool:
    return len(comp.atoms) <= sf.problem.exact_max_atoms


def _feasible(sf: SubFramework, comp: Component, rules: list[SubRule] | None = None) -> bool:
    return decide_feasible(component_system(sf, comp, rules), exact=_exact_ok(sf, comp))


def offending_rules(sf: SubFramework, comp: Component) -> list[str]:
    """A minimal infeasible subset of the component's rules (deletion filter: one LP per rule)."""
    keep = list(comp.rules)
    for s in list(keep):
        trial = [x for x in keep if x is not s]
        if not _feasible(sf, comp, trial):
            keep = trial
    return [rule_label(s.rule) for s in keep]


def inconsistent_error(sf: SubFramework, comp: Component) -> InconsistentError:
    cw = " (closed world)" if sf.problem.closed_world else ""
    return InconsistentError(f"the rules are inconsistent under decision '{sf.decision}'{cw}",
                             offending_rules(sf, comp))  # fmt: skip


def _maxent(system: ConstraintSystem, mask: np.ndarray | None) -> MaxEntResult:
    A_eq, b_eq, A_ge, b_ge = system.matrices()
    if mask is not None:
        A_eq, A_ge = A_eq[:, mask], A_ge[:, mask]
    return maxent(A_eq.tocsr(), b_eq, A_ge.tocsr(), b_ge)


def _solve_component(sf: SubFramework, comp: Component) -> ComponentResult:
    p = sf.problem
    system = component_system(sf, comp)
    exact = _exact_ok(sf, comp)
    N = system.n_worlds

    def infeasible_in_floats() -> Exception:  # HiGHS found no point: inconsistent, unless the rationals disagree
        if decide_feasible(system, exact=exact):
            return RuntimeError(f"under '{sf.decision}': HiGHS fails on a consistent component (at its tolerance)")
        return inconsistent_error(sf, comp)

    mask = support_mask(system) if N <= PREPASS_MAX_WORLDS else None
    if mask is None and N <= PREPASS_MAX_WORLDS:
        raise infeasible_in_floats()
    c = system.objective(comp.goals, p.objective)
    ec = system.exact_objective(comp.goals, p.objective) if exact else None
    try:
        hi = solve_lp(system, c, True, ec)
        lo = solve_lp(system, c, False, ec)
    except InfeasibleError:
        raise infeasible_in_floats() from None
    # a certified LP vertex satisfies every row exactly; without one, HiGHS's "feasible" may be within its tolerance
    # only (rules contradicting each other by < 1e-10): decided in rationals
    if exact and hi.exact is None and lo.exact is None and not decide_feasible(system, exact=True):
        raise inconsistent_error(sf, comp)
    res = ComponentResult(comp.atoms, N, lo.value, hi.value, float("nan"), lo.exact, hi.exact, 0.0, system,
                          lo, hi, rules=comp.rules)  # fmt: skip
    if p.laplace == "midpoint":
        res.laplace = res.laplace_raw = (lo.value + hi.value) / 2
        return res
    if mask is None and N <= PREPASS_MAX_WORLDS:
        raise RuntimeError(f"under '{sf.decision}': the support LP failed on a consistent component")
    me = _maxent(system, mask)
    if mask is None and me.residual > 1e-8:  # large component: remove the forced-zero worlds and retry
        mask = support_mask(system)
        me = _maxent(system, mask)
    res.me, res.support, res.residual = me, mask, me.residual
    cm = c if mask is None else c[mask]
    res.laplace_raw = float(cm @ me.pi)
    res.laplace = within_bounds(res.laplace_raw, res.lower, res.upper, me.residual, sf.decision)
    return res


def evaluate_components(sf: SubFramework, mode: str = "components") -> Evaluation:
    """V⁻, V^L, V⁺ of ``sf.decision`` by exact world enumeration per component (``mode``: components | none)."""
    rel, other = split_components(sf, mode)
    for comp in other:  # the lemma needs every pruned component to be consistent
        if not _feasible(sf, comp):
            raise inconsistent_error(sf, comp)
    results = [_solve_component(sf, comp) for comp in rel]
    return _combine(sf.decision, results, sf.problem, mode)


def check_components(sf: SubFramework) -> list[str]:
    """Raise InconsistentError if a component of 𝓡_d admits no distribution (exact verdict near the tolerance);
    return warnings for vacuous rules (body of probability 0 in every consistent distribution)."""
    warnings = []
    rel, other = split_components(sf, "components")
    for comp in rel + other:
        system = component_system(sf, comp)
        if not decide_feasible(system, exact=_exact_ok(sf, comp)):
            raise inconsistent_error(sf, comp)
        mask = support_mask(system) if system.n_worlds <= PREPASS_MAX_WORLDS else None
        if mask is not None:
            for row in system.rows:
                if row.b.any() and not (row.b & mask).any():
                    warnings.append(f"under '{sf.decision}': rule {row.label} is vacuous (its body has probability 0)")
    return warnings


def _combine(d: str, results: list[ComponentResult], p: Problem, mode: str) -> Evaluation:
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
        lap = within_bounds(lap, float(lx) if lx is not None else lower, float(ux) if ux is not None else upper,
                            max(r.residual for r in results), d)  # fmt: skip
    notes = []
    if not exact and any(len(r.atoms) <= p.exact_max_atoms for r in results):
        notes.append("exact rational check failed for a component; LP values are floating point")
    return Evaluation(
        d, float(lx) if lx is not None else lower, lap, float(ux) if ux is not None else upper, lx, ux,
        max((r.residual for r in results), default=0.0), sum(r.n_worlds for r in results), k,
        max((len(r.atoms) for r in results), default=0), mode, False, notes, results,
    )  # fmt: skip
