"""The rival decision semantics of spec §5 (``decision_semantics: global``): one joint over D ∪ A ∪ G.

Worlds make exactly one decision true; every rule is a constraint of the single joint π (decision literals are
ordinary literals), and the utility of ``d`` is the conditional u(d) = π(Γ ∧ d) / π(d). The bounds are
linear-fractional programs, solved as LPs by the Charnes–Cooper transformation y = π / π(d): rule rows are
homogeneous, so max/min c·y over {y ≥ 0, rows(y) = 0, Σ_{ω ⊨ d} y_ω = 1}. Laplace: the maximum-entropy joint,
conditioned on d. No component pruning (decisions connect everything) and no exact rational check: reported.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from padf.errors import InconsistentError, SizeLimitError
from padf.lp import feasible, support_mask
from padf.maxent import MaxEntResult, maxent
from padf.model import Evaluation, SubRule, rule_label, within_bounds
from padf.parse import Problem
from padf.worlds import ConstraintSystem, build_system, enumerate_worlds

__all__ = ["GLOBAL_NOTE", "GlobalJoint", "global_system"]

GLOBAL_NOTE = "decision semantics: one global joint over decisions, attributes and goals; u(d) = π(goals | d)"


def global_system(p: Problem) -> ConstraintSystem:
    atoms = p.atoms
    if len(atoms) > p.max_atoms:
        raise SizeLimitError(f"the global joint has {len(atoms)} atoms, more than max_atoms={p.max_atoms}")
    col = {a: i for i, a in enumerate(atoms)}
    W = enumerate_worlds(len(atoms))
    keep = W[:, [col[d] for d in p.decisions]].sum(axis=1) == 1  # decisions are mutually exclusive, one is taken
    sup: dict[str, list] = {}
    for r in p.rules:
        if r.head.positive:
            sup.setdefault(r.head.atom, []).append(r.body)
    rules = [SubRule(r.head, r.body, r.lo, r.hi, r).as_tuple() for r in p.rules]
    return build_system(atoms, rules, sup, p.closed_world, keep=keep)


class GlobalJoint:
    """The global-joint evaluator: one system and one max-entropy joint for all decisions (built once, cached)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self._state: tuple[ConstraintSystem, np.ndarray, MaxEntResult | None] | None = None

    def offending(self, system: ConstraintSystem) -> list[str]:
        """Deletion filter over the rules of the global joint (rows grouped by rule)."""
        ids = sorted({r.rule_id for r in system.rows})
        keep = list(ids)
        for rid in ids:
            trial = [x for x in keep if x != rid]
            if not feasible(system, [r for r in system.rows if r.rule_id in trial]):
                keep = trial
        by_id = {r.index: r for r in self.problem.rules}
        return [rule_label(by_id[i]) for i in keep]

    def _support(self) -> tuple[ConstraintSystem, np.ndarray]:
        if self._state is None:
            system = global_system(self.problem)
            mask = support_mask(system)
            if mask is None:
                raise InconsistentError("the rules are inconsistent (global joint)", self.offending(system))
            self._state = (system, mask, None)
        return self._state[0], self._state[1]

    def check(self) -> None:
        """Raise InconsistentError if no global joint exists, or if some decision has probability 0 in all."""
        system, mask = self._support()
        col = {a: i for i, a in enumerate(system.atoms)}
        for d in self.problem.decisions:
            if not (system.W[mask, col[d]]).any():
                raise InconsistentError(f"decision '{d}' has probability 0 in every consistent global joint")

    def evaluate(self, d: str) -> Evaluation:
        p = self.problem
        system, mask = self._support()
        me = self._state[2]
        if me is None:
            A_eq, b_eq, A_ge, b_ge = system.matrices()
            me = maxent(A_eq[:, mask].tocsr(), b_eq, A_ge[:, mask].tocsr(), b_ge)
            self._state = (system, mask, me)
        col = {a: i for i, a in enumerate(system.atoms)}
        dm = system.W[:, col[d]]  # (N,) worlds where d is taken
        c = system.objective(p.goals, p.objective)
        A_eq, b_eq, A_ge, b_ge = system.matrices()
        A = sp.vstack([A_eq, sp.csr_matrix(dm.astype(float)[None, :])]).tocsr()
        b = np.append(b_eq, 1.0)
        kw = {"A_ub": -A_ge, "b_ub": -b_ge} if A_ge.shape[0] else {}
        vals = []
        for sign in (1.0, -1.0):  # min, then max
            res = linprog(sign * c * dm, A_eq=A, b_eq=b, bounds=(0, None), method="highs", **kw)
            if res.status != 0:
                raise InconsistentError(f"decision '{d}' cannot have positive probability under the global joint")
            vals.append(float(c @ (res.x * dm)))
        pd_ = float(me.pi @ dm[mask])
        if pd_ <= 1e-12:
            raise InconsistentError(f"the maximum-entropy joint gives decision '{d}' probability 0")
        lap = float(me.pi @ (c * dm)[mask]) / pd_
        lower, upper = vals
        if p.laplace == "midpoint":
            lap = (lower + upper) / 2
        else:  # the ratio of two max-entropy sums rounds too: snapped only within the solver tolerance
            lap = within_bounds(lap, lower, upper, me.residual / pd_, d)
        return Evaluation(d, lower, lap, upper, None, None, me.residual, system.n_worlds, 1, len(system.atoms),
                          "global", False, [GLOBAL_NOTE])  # fmt: skip
