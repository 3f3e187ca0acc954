"""The independence structure of the rules (spec §4 "RIA / independence"; ``independence: ria``), used soundly.

Every constraint of 𝓡_d is local: a rule ``h <- B : θ`` only involves the marginal of its own atoms, the
closed-world condition of an atom ``x`` only ``x`` and its bodies. Atoms that share no rule are therefore
conditionally independent given the atoms between them in the maximum-entropy joint (a Markov network over the rule
scopes), and, on a tree decomposition of the rule graph, *any* family of locally consistent clique marginals extends
to a joint (junction-tree theorem). So, with cliques C of a triangulation of the rule graph:

* V⁻ / V⁺ are one LP over the clique marginals μ_C (separators agree, rules hold inside their clique): the exact
  polytope's projection, not a narrowing of it;
* consistency is that LP's feasibility (exact up to HiGHS's tolerance: never "inconsistent" for a consistent problem);
* V^L is the max-entropy dual ``min log Z(λ)`` with ``Z`` summed by message passing over the junction tree
  (L-BFGS-B; multipliers of interval bounds kept ≥ 0), after removing the clique configurations that no consistent
  distribution can weight (iterated LPs);
* a closed-world condition ``x ⇒ B1 ∨ … ∨ Bk`` is split by auxiliary disjunction atoms ``o_j = o_{j-1} ∨ B_j``
  (deterministic, so values and entropy are unchanged): an atom with k parents costs k cliques of ≤ 4 + |B_j| atoms,
  not one family of 2^(k+1) worlds.

Cost: Σ_C 2^|C|, polynomial in the number of rules when the rule graph is tree-like (bounded treewidth). Where it is
not (a clique larger than ``max_atoms``) the solver refuses with the size limit instead of guessing.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog, minimize

from padf.errors import InconsistentError, SizeLimitError
from padf.exact import component_system, inconsistent_error, split_components
from padf.lp import NEAR_TOLERANCE, decide_feasible, exact_feasible
from padf.model import ComponentResult, Evaluation, SubFramework, rule_label, within_bounds
from padf.parse import Literal

__all__ = ["RIA_NOTE", "JunctionTree", "check_ria", "evaluate_ria"]

EXACT_MAX_ENTRIES = 5_000  # rows × clique configurations up to which the rational phase-1 simplex runs (≈ 1 s)
RIA_NOTE = (
    "independence: ria: solved on a tree decomposition of the rule graph (clique marginals + message passing); "
    "exact, cost exponential only in the largest clique"
)


@dataclass
class Term:
    """A table over ``scope`` (sorted variable names): a rule row (``eq``/``ge``), a hard 0/1 mask or an objective."""

    scope: tuple[str, ...]
    table: np.ndarray  # shape (2,) * len(scope)
    kind: str  # "eq" | "ge" | "hard" | "obj"
    rule: int = -1  # index into the sub-framework's rules (rows of one rule share it)
    body: np.ndarray | None = None  # rule rows: boolean table of the rule's body over ``scope``
    head_body: np.ndarray | None = None  # rule rows: boolean table of head and body
    theta: Fraction | None = None  # rule rows: table = sign · (head_body − theta · body), exactly
    sign: int = 1


def logsumexp(a: np.ndarray, axis=None, keepdims: bool = False) -> np.ndarray:
    """log Σ exp(a) over ``axis`` (all-−∞ slices give −∞): plain numpy, since scipy.special.logsumexp's array-API
    dispatch costs ~0.5 ms a call, which was 75 % of ria's time at 10 atoms (message passing calls it per clique)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _table(scope: tuple[str, ...], lits) -> np.ndarray:
    """Boolean table over ``scope``: all ``lits`` hold."""
    grid = np.indices((2,) * len(scope), dtype=np.int8).astype(bool)
    m = np.ones((2,) * len(scope), dtype=bool)
    for lit in lits:
        v = grid[scope.index(lit.atom)]
        m &= v if lit.positive else ~v
    return m


def _scope(*groups) -> tuple[str, ...]:
    return tuple(sorted({a for g in groups for a in g}))


def build_terms(sub, supports, goals, objective: str, closed_world: bool) -> list[Term]:
    """Rule rows, closed-world masks (with auxiliary disjunction atoms) and objective tables of 𝓡_d."""
    terms: list[Term] = []
    for i, s in enumerate(sub):
        sc = _scope([s.head.atom], [b.atom for b in s.body])
        bt = _table(sc, s.body)
        b = bt.astype(float)
        hb = b * _table(sc, (s.head,))
        hbt = bt & _table(sc, (s.head,))
        if s.lo == s.hi:
            terms.append(Term(sc, hb - float(s.lo) * b, "eq", i, bt, hbt, s.lo))
        else:
            if s.lo > 0:
                terms.append(Term(sc, hb - float(s.lo) * b, "ge", i, bt, hbt, s.lo))
            if s.hi < 1:
                terms.append(Term(sc, float(s.hi) * b - hb, "ge", i, bt, hbt, s.hi, -1))
    if closed_world:
        for x, bodies in sorted(supports.items()):
            xl = Literal(x)
            if not bodies:
                terms.append(Term((x,), ~_table((x,), (xl,)), "hard"))
            elif len(bodies) == 1:
                sc = _scope([x], [b.atom for b in bodies[0]])
                terms.append(Term(sc, ~_table(sc, (xl,)) | _table(sc, bodies[0]), "hard"))
            else:  # o_1 = B_1, o_j = o_{j-1} or B_j, x => o_k
                prev = None
                for j, body in enumerate(bodies, 1):
                    o = f"{x}#or{j}"
                    sc = _scope([o], [] if prev is None else [prev], [b.atom for b in body])
                    val = _table(sc, body) if prev is None else _table(sc, body) | _table(sc, (Literal(prev),))
                    terms.append(Term(sc, _table(sc, (Literal(o),)) == val, "hard"))
                    prev = o
                sc = _scope([x, prev])
                terms.append(Term(sc, ~_table(sc, (xl,)) | _table(sc, (Literal(prev),)), "hard"))
    glits = list(goals)
    if objective in ("all", "any"):
        sc = _scope([g.atom for g in glits])
        tabs = [_table(sc, (g,)) for g in glits]
        red = np.logical_and.reduce(tabs) if objective == "all" else np.logical_or.reduce(tabs)
        terms.append(Term(sc, red.astype(float), "obj"))
    else:
        for g, w in goals.items():
            terms.append(Term((g.atom,), _table((g.atom,), (g,)) * (1.0 if objective == "count" else float(w)), "obj"))
    return terms


def _triangulate(variables: list[str], scopes: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Maximal cliques of a greedy min-fill triangulation of the graph joining the atoms of every scope."""
    adj: dict[str, set[str]] = {v: set() for v in variables}
    for sc in scopes:
        for a, b in itertools.combinations(sc, 2):
            adj[a].add(b)
            adj[b].add(a)

    def fill(v: str) -> int:
        nb = list(adj[v])
        return sum(1 for a, b in itertools.combinations(nb, 2) if b not in adj[a])

    cliques: list[frozenset[str]] = []
    remaining = set(variables)
    while remaining:
        v = min(remaining, key=lambda u: (fill(u), len(adj[u]), u))
        nb = adj[v]
        cliques.append(frozenset(nb | {v}))
        for a, b in itertools.combinations(nb, 2):
            adj[a].add(b)
            adj[b].add(a)
        for a in nb:
            adj[a].discard(v)
        del adj[v]
        remaining.discard(v)
    maximal = [c for c in cliques if not any(c < o for o in cliques)]
    order = {v: i for i, v in enumerate(variables)}
    return sorted({tuple(sorted(c, key=order.__getitem__)) for c in maximal})


@dataclass
class JunctionTree:
    """Cliques (variables in a fixed global order), tree edges, and the terms assigned to the cliques."""

    variables: list[str]
    cliques: list[tuple[str, ...]]
    edges: list[tuple[int, int]]
    terms: list[tuple[int, Term]]
    offsets: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, terms: list[Term], max_atoms: int, d: str) -> JunctionTree:
        variables = sorted({a for t in terms for a in t.scope})
        cliques = _triangulate(variables, [t.scope for t in terms])
        big = max(len(c) for c in cliques)
        if big > max_atoms:
            raise SizeLimitError(
                f"under decision '{d}' the rule graph is not tree-like enough for independence: ria: a clique of "
                f"its tree decomposition has {big} atoms, more than max_atoms={max_atoms}"
            )
        pairs = sorted(((len(set(a) & set(b)), i, j) for (i, a), (j, b) in itertools.combinations(enumerate(cliques), 2)
                        if set(a) & set(b)), key=lambda x: (-x[0], x[1], x[2]))  # fmt: skip
        root = list(range(len(cliques)))

        def find(i: int) -> int:
            while root[i] != i:
                root[i] = root[root[i]]
                i = root[i]
            return i

        edges = []
        for _, i, j in pairs:  # maximum-weight spanning forest over separator sizes = a junction tree
            ri, rj = find(i), find(j)
            if ri != rj:
                root[ri] = rj
                edges.append((i, j))
        placed = []
        for t in terms:
            home = min((k for k, c in enumerate(cliques) if set(t.scope) <= set(c)), key=lambda k: len(cliques[k]))
            placed.append((home, t))
        offs = [0]
        for c in cliques:
            offs.append(offs[-1] + (1 << len(c)))
        return cls(variables, cliques, edges, placed, offs)

    @property
    def n_vars(self) -> int:
        return self.offsets[-1]

    def lift(self, k: int, t: Term) -> np.ndarray:
        """``t.table`` broadcast onto clique ``k``'s axes."""
        c = self.cliques[k]
        shape = [2 if v in t.scope else 1 for v in c]
        perm = sorted(range(len(t.scope)), key=lambda i: c.index(t.scope[i]))
        return np.broadcast_to(np.transpose(t.table, perm).reshape(shape), (2,) * len(c))

    def _proj(self, k: int, sep: tuple[str, ...]) -> np.ndarray:
        """Flat separator-configuration index of every flat configuration of clique ``k``."""
        c = self.cliques[k]
        grid = np.indices((2,) * len(c)).reshape(len(c), -1)
        idx = np.zeros(grid.shape[1], dtype=np.int64)
        for v in sep:
            idx = idx * 2 + grid[c.index(v)]
        return idx

    # ---------------------------------------------------------------------------------------------- LP
    def lp_data(self, rules: set[int] | None = None):
        """Equality / inequality systems over the flat clique marginals; hard zeros as upper bounds."""
        rows, cols, vals, b_eq = [], [], [], []
        r = 0
        for k in range(len(self.cliques)):  # each clique sums to one
            n = 1 << len(self.cliques[k])
            rows += [r] * n
            cols += list(range(self.offsets[k], self.offsets[k] + n))
            vals += [1.0] * n
            b_eq.append(1.0)
            r += 1
        for i, j in self.edges:  # separators agree
            sep = tuple(v for v in self.cliques[i] if v in self.cliques[j])
            pi, pj = self._proj(i, sep), self._proj(j, sep)
            for s in range(1 << len(sep)):
                a, b = np.flatnonzero(pi == s), np.flatnonzero(pj == s)
                rows += [r] * (len(a) + len(b))
                cols += (self.offsets[i] + a).tolist() + (self.offsets[j] + b).tolist()
                vals += [1.0] * len(a) + [-1.0] * len(b)
                b_eq.append(0.0)
                r += 1
        ub_rows, ub_cols, ub_vals, n_ub = [], [], [], 0
        upper = np.full(self.n_vars, np.inf)
        for k, t in self.terms:
            flat = self.lift(k, t).reshape(-1)
            idx = np.arange(self.offsets[k], self.offsets[k + 1])
            if t.kind == "hard":
                upper[idx[~flat.astype(bool)]] = 0.0
            elif t.kind in ("eq", "ge") and (rules is None or t.rule in rules):
                nz = np.flatnonzero(flat)
                if t.kind == "eq":
                    rows += [r] * len(nz)
                    cols += idx[nz].tolist()
                    vals += flat[nz].tolist()
                    b_eq.append(0.0)
                    r += 1
                else:
                    ub_rows += [n_ub] * len(nz)
                    ub_cols += idx[nz].tolist()
                    ub_vals += (-flat[nz]).tolist()
                    n_ub += 1
        A_eq = sp.csr_matrix((vals, (rows, cols)), shape=(r, self.n_vars))
        A_ub = sp.csr_matrix((ub_vals, (ub_rows, ub_cols)), shape=(n_ub, self.n_vars)) if n_ub else None
        return A_eq, np.array(b_eq), A_ub, (np.zeros(n_ub) if n_ub else None), upper

    def objective(self) -> np.ndarray:
        c = np.zeros(self.n_vars)
        for k, t in self.terms:
            if t.kind == "obj":
                c[self.offsets[k] : self.offsets[k + 1]] += self.lift(k, t).reshape(-1)
        return c

    def _linprog(self, c, data, bounds=None):
        A_eq, b_eq, A_ub, b_ub, upper = data
        if bounds is None:
            bounds = np.c_[np.zeros(self.n_vars), upper]
        return linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")

    def feasible(self, rules: set[int] | None = None) -> bool:
        return self._linprog(np.zeros(self.n_vars), self.lp_data(rules)).status == 0

    def exact_rows(self, rules: set[int] | None = None) -> tuple[list, list[str], list[int]]:
        """The clique-marginal LP with integer coefficients (rule rows scaled by θ's denominator), over the
        configurations that no hard (closed-world) mask sets to zero."""
        A_eq, b_eq, _, _, upper = self.lp_data(rules)
        free = upper > 0
        out, senses, rhs = [], [], []
        n_struct = len(self.cliques) + sum(1 << sum(v in self.cliques[j] for v in self.cliques[i])
                                           for i, j in self.edges)  # fmt: skip
        for i in range(n_struct):  # clique sums and separator agreements: integer (0, ±1) already
            row = A_eq.getrow(i).toarray().ravel()
            out.append(np.rint(row[free]).astype(np.int64).astype(object))
            senses.append("==")
            rhs.append(1 if b_eq[i] > 0.5 else 0)
        for k, t in self.terms:
            if t.kind not in ("eq", "ge") or (rules is not None and t.rule not in rules):
                continue
            q = t.theta.denominator
            hb = self.lift(k, Term(t.scope, t.head_body, "obj")).reshape(-1).astype(np.int64)
            bb = self.lift(k, Term(t.scope, t.body, "obj")).reshape(-1).astype(np.int64)
            row = np.zeros(self.n_vars, dtype=object)
            row[self.offsets[k] : self.offsets[k + 1]] = (hb * q - bb * t.theta.numerator).astype(object) * t.sign
            out.append(row[free])
            senses.append("==" if t.kind == "eq" else ">=")
            rhs.append(0)
        return out, senses, rhs

    def decide_feasible(self, rules: set[int] | None = None) -> bool:
        """Feasibility of the clique LP by HiGHS; when HiGHS says infeasible but the violation is within
        NEAR_TOLERANCE and the LP is small (EXACT_MAX_ENTRIES coefficients), decided by a rational phase-1 simplex."""
        data = self.lp_data(rules)
        ok = self._linprog(np.zeros(self.n_vars), data).status == 0
        rows = data[0].shape[0] + (0 if data[2] is None else data[2].shape[0])
        if ok or rows * self.n_vars > EXACT_MAX_ENTRIES or self.violation(data) > NEAR_TOLERANCE:
            return ok
        verdict = exact_feasible(*self.exact_rows(rules))
        return ok if verdict is None else verdict

    def violation(self, data) -> float:
        """Least total violation of the equality rows and the rule inequalities (elastic LP, HiGHS)."""
        A_eq, b_eq, A_ub, b_ub, upper = data
        m, n = A_eq.shape
        g = 0 if A_ub is None else A_ub.shape[0]
        eye = sp.identity(m, format="csr")
        Aeq = sp.hstack([A_eq, eye, -eye, sp.csr_matrix((m, g))]).tocsr()
        kw = {}
        if g:
            kw = {"A_ub": sp.hstack([A_ub, sp.csr_matrix((g, 2 * m)), -sp.identity(g)]).tocsr(), "b_ub": b_ub}
        bounds = np.r_[np.c_[np.zeros(n), upper], np.c_[np.zeros(2 * m + g), np.full(2 * m + g, np.inf)]]
        res = linprog(np.r_[np.zeros(n), np.ones(2 * m + g)], A_eq=Aeq, b_eq=b_eq, bounds=bounds, method="highs", **kw)
        return float(res.fun) if res.status == 0 else math.inf

    def support(self, data) -> np.ndarray:
        """Clique configurations that some consistent distribution weights (each LP finds ≥ 1 more or stops)."""
        A_eq, b_eq, A_ub, b_ub, upper = data
        n = self.n_vars
        sup = np.zeros(n, dtype=bool)
        unknown = upper > 0
        while unknown.any():
            U = np.flatnonzero(unknown)
            k = len(U)
            ij = (np.r_[np.arange(k), np.arange(k)], np.r_[U, n + np.arange(k)])
            S = sp.csr_matrix((np.r_[-np.ones(k), np.ones(k)], ij), shape=(k, n + k))
            Aub = S if A_ub is None else sp.vstack([S, sp.hstack([A_ub, sp.csr_matrix((A_ub.shape[0], k))])])
            bub = np.zeros(k) if A_ub is None else np.r_[np.zeros(k), b_ub]
            Aeq = sp.hstack([A_eq, sp.csr_matrix((A_eq.shape[0], k))])
            bounds = np.r_[np.c_[np.zeros(n), upper], np.c_[np.zeros(k), np.full(k, 1.0 / max(1, k))]]
            res = linprog(np.r_[np.zeros(n), -np.ones(k)], A_ub=Aub, b_ub=bub, A_eq=Aeq, b_eq=b_eq, bounds=bounds,
                          method="highs")  # fmt: skip
            new = U[res.x[n:] > 1e-9] if res.status == 0 else U[:0]
            if len(new) == 0:
                break
            sup[new] = True
            unknown[new] = False
        return sup

    # ---------------------------------------------------------------------------------------- max entropy
    def maxent(self, support: np.ndarray) -> tuple[list[np.ndarray], float]:
        """Clique marginals of the max-entropy joint (restricted to ``support``) and the constraint residual."""
        rowterms = [(k, self.lift(k, t).astype(float), t.kind) for k, t in self.terms if t.kind in ("eq", "ge")]
        base = []
        for k, c in enumerate(self.cliques):
            s = support[self.offsets[k] : self.offsets[k + 1]].reshape((2,) * len(c))
            base.append(np.where(s, 0.0, -np.inf))
        nbrs: dict[int, list[int]] = {k: [] for k in range(len(self.cliques))}
        for i, j in self.edges:
            nbrs[i].append(j)
            nbrs[j].append(i)
        order, parent, seen = [], {}, set()
        for r in range(len(self.cliques)):  # BFS per tree of the forest
            if r in seen:
                continue
            seen.add(r)
            parent[r] = None
            queue = [r]
            while queue:
                u = queue.pop(0)
                order.append(u)
                for w in nbrs[u]:
                    if w not in seen:
                        seen.add(w)
                        parent[w] = u
                        queue.append(w)

        def sep_axes(k: int, other: int) -> tuple[int, ...]:
            return tuple(i for i, v in enumerate(self.cliques[k]) if v not in self.cliques[other])

        def expand(msg: np.ndarray, src: int, dst: int) -> np.ndarray:
            shape = [2 if v in self.cliques[src] else 1 for v in self.cliques[dst]]
            return msg.reshape(shape)

        def run(x: np.ndarray):
            phi = [b.copy() for b in base]
            for (k, tab, _), lam in zip(rowterms, x):
                phi[k] = phi[k] + lam * tab
            up: dict[int, np.ndarray] = {}
            with np.errstate(divide="ignore", invalid="ignore"):
                for u in reversed(order):  # collect
                    acc = phi[u].copy()
                    for w in nbrs[u]:
                        if parent.get(w) == u:
                            acc = acc + expand(up[w], w, u)
                    if parent[u] is not None:
                        up[u] = logsumexp(acc, axis=sep_axes(u, parent[u]), keepdims=False)
                    phi[u] = acc  # phi now holds potential + messages from children
                down: dict[int, np.ndarray] = {}
                belief = [None] * len(self.cliques)
                logz = 0.0
                for u in order:  # distribute
                    b = phi[u] if parent[u] is None else phi[u] + expand(down[u], parent[u], u)
                    belief[u] = b
                    if parent[u] is None:
                        logz += float(logsumexp(b))
                    for w in nbrs[u]:
                        if parent.get(w) == u:
                            m_w = expand(up[w], w, u)  # where the child's message is -inf its belief is too
                            msg = np.where(np.isneginf(m_w), -np.inf, b - m_w)
                            down[w] = logsumexp(msg, axis=sep_axes(u, w))
                marg = []
                for b in belief:
                    z = logsumexp(b)
                    marg.append(np.exp(b - z))
            grad = np.array([float((marg[k] * tab).sum()) for k, tab, _ in rowterms])
            return logz, grad, marg

        n = len(rowterms)
        if n:
            bounds = [(None, None) if kind == "eq" else (0, None) for *_, kind in rowterms]
            res = minimize(lambda x: run(x)[:2], np.zeros(n), jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"ftol": 0.0, "gtol": 1e-12, "maxiter": 20000, "maxcor": 30})  # fmt: skip
            x = res.x
        else:
            x = np.zeros(0)
        _, grad, marg = run(x)
        kinds = np.array([kind for *_, kind in rowterms])
        resid = 0.0
        if n:
            resid = float(max(np.abs(grad[kinds == "eq"]).max(initial=0.0), (-grad[kinds == "ge"]).max(initial=0.0)))
        return marg, resid


def _tree(sf: SubFramework) -> tuple[JunctionTree, list]:
    p = sf.problem
    atoms = {a for s in sf.rules for a in (s.head.atom, *(b.atom for b in s.body))} | {g.atom for g in p.goals}
    sup = {h: b for h, b in sf.supports.items() if h in atoms}
    terms = build_terms(sf.rules, sup, p.goals, p.objective, p.closed_world)
    return JunctionTree.build(terms, p.max_atoms, sf.decision), terms


def _small(sf: SubFramework) -> list | None:
    """The components of 𝓡_d if every one has at most ``exact_max_atoms`` atoms, else None."""
    rel, other = split_components(sf, "components")
    comps = rel + other
    return comps if all(len(c.atoms) <= sf.problem.exact_max_atoms for c in comps) else None


def _exactly_feasible(sf: SubFramework, jt: JunctionTree) -> bool:
    """Consistency of 𝓡_d. The clique LP and the world LP describe the same polytope (junction-tree theorem), so
    where every component has at most ``exact_max_atoms`` atoms the verdict is the exact path's (HiGHS + rational
    vertex certificate / phase-1 simplex, cheap at that size); above, the clique LP's (:meth:`decide_feasible`)."""
    comps = _small(sf)
    if comps is not None:
        return all(decide_feasible(component_system(sf, c), exact=True) for c in comps)
    return jt.decide_feasible()


def _inconsistent(sf: SubFramework, jt: JunctionTree) -> InconsistentError:
    comps = _small(sf)
    for c in comps or []:  # small: the exact path's minimal subset of the inconsistent component
        if not decide_feasible(component_system(sf, c), exact=True):
            return inconsistent_error(sf, c)
    keep = set(range(len(sf.rules)))
    for i in range(len(sf.rules)):  # deletion filter: a minimal infeasible rule subset
        if not jt.decide_feasible(keep - {i}):
            keep -= {i}
    cw = " (closed world)" if sf.problem.closed_world else ""
    return InconsistentError(f"the rules are inconsistent under decision '{sf.decision}'{cw}",
                             [rule_label(sf.rules[i].rule) for i in sorted(keep)])  # fmt: skip


def check_ria(sf: SubFramework) -> list[str]:
    """Consistency of 𝓡_d by the clique-marginal LP; warnings for vacuous rules (body never weighted)."""
    jt, _ = _tree(sf)
    data = jt.lp_data()
    if not _exactly_feasible(sf, jt):
        raise _inconsistent(sf, jt)
    sup = jt.support(data)
    out = []
    for k, t in jt.terms:
        if t.kind in ("eq", "ge") and t.body is not None:
            body = jt.lift(k, Term(t.scope, t.body, "obj")).reshape(-1)
            if body.any() and not (body & sup[jt.offsets[k] : jt.offsets[k + 1]]).any():
                label = rule_label(sf.rules[t.rule].rule)
                out.append(f"under '{sf.decision}': rule {label} is vacuous (its body has probability 0)")
    return out


def evaluate_ria(sf: SubFramework) -> Evaluation:
    """V⁻, V^L, V⁺ of ``sf.decision`` on a tree decomposition of 𝓡_d's rule graph."""
    p, d = sf.problem, sf.decision
    jt, _ = _tree(sf)
    data = jt.lp_data()
    c = jt.objective()
    lo_r = jt._linprog(c, data)
    if lo_r.status == 2:
        if not _exactly_feasible(sf, jt):
            raise _inconsistent(sf, jt)
        raise RuntimeError(f"under '{d}' (independence: ria): HiGHS fails on a consistent problem (at its tolerance)")
    if lo_r.status != 0:
        raise RuntimeError(f"LP failed under '{d}' (independence: ria): {lo_r.message}")
    hi_r = jt._linprog(-c, data)
    lower, upper = float(lo_r.fun), float(-hi_r.fun)
    if 0 < lower - upper <= 1e-9 * max(1.0, abs(upper)):  # two float LPs of a (near-)degenerate interval (seen: 2e-16)
        lower = upper = (lower + upper) / 2
    residual = 0.0
    if p.laplace == "midpoint":
        lap = (lower + upper) / 2
    else:
        marg, residual = jt.maxent(jt.support(data))
        lap = sum(float((marg[k] * jt.lift(k, t)).sum()) for k, t in jt.terms if t.kind == "obj")
    comp = ComponentResult(tuple(jt.variables), jt.n_vars, lower, upper, lap, laplace_raw=lap, residual=residual)
    scale = max(1.0, sum(abs(float(w)) for w in p.goals.values()))  # the constraint residual, in utility units
    lap = within_bounds(lap, lower, upper, residual * scale, d)
    comp.laplace = lap
    widest = max(len(c) for c in jt.cliques)
    note = f"{RIA_NOTE} ({len(jt.cliques)} cliques, largest {widest} atoms, {jt.n_vars} clique configurations)"
    return Evaluation(d, lower, lap, upper, None, None, residual, jt.n_vars, len(jt.cliques), widest, "ria", False,
                      [note], [comp])  # fmt: skip
