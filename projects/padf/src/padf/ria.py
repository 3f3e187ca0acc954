"""The independence approximation (spec §4 "RIA / independence", our design; ``independence: ria``).

Assumption: the body atoms of an atom's rules (its *parents*) are mutually independent, as in a Bayesian network
over the rule graph. The joint is then never enumerated: atoms are processed in topological order and each atom's
marginal is computed from a local problem over its family (parents + itself) whose parent worlds carry the product of
the parents' marginals. Local LPs give the bounds (evaluated at the corners of the parents' marginal intervals),
local maximum entropy at the parents' Laplace marginals gives the Laplace value. Cost: linear in the number of atoms
for bounded in-degree, instead of 2^n. The result is an approximation (it can narrow [V⁻, V⁺] by dropping
correlated extremes) and is always reported as such. Only ancestors of the goals are visited (descendant-only
rules are ignored, as barren nodes are in a Bayesian network).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from padf.errors import InconsistentError, ParseError, SizeLimitError
from padf.lp import InfeasibleError, solve_lp, support_mask
from padf.maxent import maxent
from padf.parse import find_cycle
from padf.worlds import Row, build_system

if TYPE_CHECKING:
    from padf.framework import Evaluation, Framework

__all__ = ["RIA_NOTE", "evaluate_ria"]

RIA_NOTE = (
    "independence assumption (ria) used: parents of each atom treated as independent; values are approximate "
    "(bounds may be narrower than the exact polytope's)"
)


def evaluate_ria(fw: Framework, d: str) -> Evaluation:
    from padf.framework import Evaluation, rule_label

    p = fw.problem
    if find_cycle(p.rules) is not None:
        raise ParseError("independence: ria needs acyclic rules; use independence: components")
    sub = fw.subframework(d)
    sup = fw.supports(sub)
    heads: dict[str, list] = {}
    for s in sub:
        heads.setdefault(s.head.atom, []).append(s)
    # ancestors of the goals, in topological order (parents first)
    need: set[str] = set()
    stack = [g.atom for g in p.goals]
    while stack:
        a = stack.pop()
        if a in need:
            continue
        need.add(a)
        stack.extend(b.atom for s in heads.get(a, []) for b in s.body)
    order: list[str] = []
    done: set[str] = set()

    def visit(a: str) -> None:
        if a in done:
            return
        done.add(a)
        for s in heads.get(a, []):
            for b in s.body:
                visit(b.atom)
        order.append(a)

    for a in sorted(need):
        visit(a)
    marg: dict[str, tuple[float, float, float]] = {}
    n_worlds = 0
    max_family = 0
    for x in order:
        rules = heads.get(x, [])
        if not rules:
            forced_false = p.closed_world and x in sup and not sup[x]
            marg[x] = (0.0, 0.0, 0.0) if forced_false else (0.0, 1.0, 0.5)
            continue
        parents = sorted({b.atom for s in rules for b in s.body})
        fam = (*parents, x)
        if len(fam) > p.max_atoms:
            raise SizeLimitError(f"under '{d}' the family of '{x}' has {len(fam)} atoms > max_atoms={p.max_atoms}")
        max_family = max(max_family, len(fam))
        system = build_system(fam, [s.as_tuple() for s in rules], {x: sup.get(x, [])} if x in sup else {},
                              p.closed_world)  # fmt: skip
        n_worlds += system.n_worlds
        k = len(parents)
        W = system.W
        pw_masks = [np.all(W[:, :k] == np.array(bits, dtype=bool)[None, :], axis=1)
                    for bits in itertools.product([False, True], repeat=k)]  # fmt: skip
        base_rows = list(system.rows)
        c = W[:, k].astype(float)

        def set_parents(vals: list[float], system=system, base_rows=base_rows, pw_masks=pw_masks, k=k) -> None:
            rows = list(base_rows)
            for bits, m in zip(itertools.product([0, 1], repeat=k), pw_masks):
                prob = math.prod(v if bit else 1 - v for v, bit in zip(vals, bits))
                rows.append(Row(m, np.zeros_like(m), Fraction(0), "==", "independence", rhs=prob))
            system.rows = rows

        lo_x, hi_x = math.inf, -math.inf
        corners = itertools.product(*[sorted({marg[a][0], marg[a][1]}) for a in parents])
        for corner in corners:
            set_parents(list(corner))
            try:
                lo_c, hi_c = solve_lp(system, c, False).value, solve_lp(system, c, True).value
            except InfeasibleError:
                continue
            lo_x, hi_x = min(lo_x, lo_c), max(hi_x, hi_c)
        set_parents([marg[a][2] for a in parents])
        mask = support_mask(system)
        if mask is None or not math.isfinite(lo_x):
            labels = [rule_label(s.rule) for s in rules]
            raise InconsistentError(f"under '{d}' the rules for '{x}' are inconsistent (independence: ria)", labels)
        A_eq, b_eq, A_ge, b_ge = system.matrices()
        me = maxent(A_eq[:, mask].tocsr(), b_eq, A_ge[:, mask].tocsr(), b_ge)
        m_x = float(np.clip(c[mask] @ me.pi, lo_x, hi_x))
        marg[x] = (lo_x, hi_x, m_x)
    vals = []
    for g, w in p.goals.items():
        lo, hi, m = marg[g.atom]
        if not g.positive:
            lo, hi, m = 1 - hi, 1 - lo, 1 - m
        vals.append((float(w), lo, hi, m))
    if p.objective in ("weighted", "count"):
        ws = [1.0 if p.objective == "count" else w for w, *_ in vals]
        lower = sum(w * (lo if w >= 0 else hi) for w, (_, lo, hi, _) in zip(ws, vals))
        upper = sum(w * (hi if w >= 0 else lo) for w, (_, lo, hi, _) in zip(ws, vals))
        lap = sum(w * m for w, (*_, m) in zip(ws, vals))
    elif p.objective == "all":
        lower, upper, lap = (math.prod(v[i] for v in vals) for i in (1, 2, 3))
    else:
        lower, upper, lap = (1 - math.prod(1 - v[i] for v in vals) for i in (1, 2, 3))
    if p.laplace == "midpoint":
        lap = (lower + upper) / 2
    return Evaluation(d, lower, lap, upper, None, None, 0.0, n_worlds, len(order), max_family, "ria", True, [RIA_NOTE])
