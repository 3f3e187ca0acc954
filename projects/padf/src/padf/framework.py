"""The decision framework (spec §4): a problem, its per-decision sub-frameworks 𝓡_d, the three criteria, ranking.

:class:`Framework` is a facade. For a decision ``d`` it builds the sub-framework 𝓡_d (:class:`padf.model.SubFramework`:
the rules whose body is compatible with ``d``, ``d`` deleted from bodies, rules needing another decision dropped)
and hands it to the evaluator of the chosen ``independence`` mode, a strategy that returns an
:class:`~padf.model.Evaluation`: :func:`padf.exact.evaluate_components` (``components``, ``none``) or
:func:`padf.ria.evaluate_ria` (``ria``). The global-joint decision semantics (:class:`padf.global_joint.GlobalJoint`)
is given the whole problem instead. The evaluators import only :mod:`padf.model` and the solver modules, never this
one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from padf.exact import check_components, evaluate_components, split_components
from padf.global_joint import GlobalJoint
from padf.model import CRITERIA, Component, ComponentResult, Evaluation, SubFramework, SubRule, rule_label
from padf.parse import Problem, load_problem, problem_from_dict
from padf.ria import check_ria, evaluate_ria

__all__ = [
    "CRITERIA",
    "EVALUATORS",
    "Component",
    "ComponentResult",
    "Evaluation",
    "Framework",
    "SubFramework",
    "SubRule",
    "rule_label",
]

# independence mode -> (evaluate, check) strategies over one sub-framework
EVALUATORS: dict[str, tuple[Callable[[SubFramework], Evaluation], Callable[[SubFramework], list[str]]]] = {
    "components": (lambda sf: evaluate_components(sf, "components"), check_components),
    "none": (lambda sf: evaluate_components(sf, "none"), check_components),
    "ria": (evaluate_ria, check_ria),
}


class Framework:
    """A PADF decision problem: ``Framework.from_yaml(path).evaluate("d1")``, ``.optimal("laplace")``."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self._cache: dict[str, Evaluation] = {}
        self._global: GlobalJoint | None = None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Framework:
        """Load a YAML or JSON problem file (rules without ``p`` are fitted from the ``fit`` section's cases)."""
        prob = load_problem(path)
        if prob.fit:
            from padf.fit import fit_problem  # lazy: pandas / scipy.stats take seconds to import

            prob = fit_problem(prob)
        return cls(prob)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Framework:
        return cls(problem_from_dict(data))

    def subframework(self, d: str) -> SubFramework:
        """𝓡_d: rules applicable when ``d`` is taken (decision literals evaluated and removed), P-CWA supports."""
        return SubFramework.of(self.problem, d)

    def components(self, d: str, independence: str | None = None) -> tuple[list[Component], list[Component]]:
        """(relevant, other) components of 𝓡_d; with ``independence: none`` a single component of all atoms."""
        mode = independence or self.problem.independence
        return split_components(self.subframework(d), "none" if mode == "none" else "components")

    def related_atoms(self, d: str, query: list[str] | None = None) -> set[str]:
        """𝓛_φ: atoms connected to the query atoms (default: the goals) through the rules of 𝓡_d."""
        q = set(query or [g.atom for g in self.problem.goals])
        rel, other = self.components(d, "components")
        return {a for c in rel + other if q & set(c.atoms) for a in c.atoms}

    def global_joint(self) -> GlobalJoint:
        if self._global is None:
            self._global = GlobalJoint(self.problem)
        return self._global

    def evaluate(self, d: str, *, details: bool = False) -> Evaluation:
        """V⁻, V^L, V⁺ of decision ``d`` (cached)."""
        if d in self._cache and (not details or self._cache[d].components):
            return self._cache[d]
        p = self.problem
        if p.decision_semantics == "global":
            ev = self.global_joint().evaluate(d)
        else:
            ev = EVALUATORS[p.independence][0](self.subframework(d))
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
        """Raise InconsistentError (naming a minimal set of offending rules) if some 𝓡_d admits no distribution
        (decided exactly, in rationals, near HiGHS's tolerance); return warnings (undeclared body-only atoms;
        vacuous rules, whose body has probability 0 in every consistent distribution)."""
        warnings: list[str] = self.lint()
        p = self.problem
        if p.decision_semantics == "global":
            self.global_joint().check()
            return warnings
        check = EVALUATORS[p.independence][1]
        for d in p.decisions:
            warnings += check(self.subframework(d))
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
