"""Optimistic / pessimistic values by linear programming (spec §4 criteria, §8 "exact"): HiGHS in floating point,
then an exact rational simplex started from HiGHS's vertex that certifies (or repairs) the optimum as a Fraction.

Also the LP pre-pass that finds which worlds can carry probability at all (worlds forced to π = 0 are removed before
the maximum-entropy step, §8 pitfalls) and plain feasibility (Rule-PSAT consistency).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.optimize import linprog

from padf.worlds import ConstraintSystem, Row

__all__ = [
    "InfeasibleError",
    "LPResult",
    "decide_feasible",
    "exact_feasible",
    "exact_optimum",
    "feasible",
    "integer_rows",
    "solve_lp",
    "support_mask",
    "violation",
]

log = logging.getLogger(__name__)
_OPTS = {"presolve": True, "primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


class InfeasibleError(RuntimeError):
    """The rows admit no distribution."""


@dataclass
class LPResult:
    """Optimum of ``c·π`` over the component's polytope; ``duals`` per row (non-zero = the rule binds)."""

    value: float
    pi: np.ndarray  # (N,)
    duals: np.ndarray  # (n_rows,) in the order of system.rows
    exact: Fraction | None = None
    exact_status: str = "skipped"


def _lp(system: ConstraintSystem, c: np.ndarray, rows: list[Row] | None = None):
    A_eq, b_eq, A_ge, b_ge = system.matrices(rows)
    N = system.n_worlds
    ones = sp.csr_matrix(np.ones((1, N)))
    A_eq = sp.vstack([A_eq, ones]).tocsr()
    b_eq = np.append(b_eq, 1.0)
    kw = {}
    if A_ge.shape[0]:
        kw = {"A_ub": -A_ge, "b_ub": -b_ge}
    return linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs", options=_OPTS, **kw)


def feasible(system: ConstraintSystem, rows: list[Row] | None = None) -> bool:
    """Does some distribution over the (closed-world filtered) worlds satisfy ``rows`` (default: all)?"""
    if system.n_worlds == 0:
        return False
    res = _lp(system, np.zeros(system.n_worlds), rows)
    return res.status == 0


# ------------------------------------------------------------------------------- exact feasibility (spec §8 "exact")
# HiGHS decides feasibility up to its tolerance (1e-10): rules that contradict each other by less than that are
# "consistent" in floats, rules that barely fit can come out "inconsistent". The verdict is made exact where it
# matters: a HiGHS "feasible" is confirmed by re-solving its vertex's basis in rationals; when that fails, or when
# HiGHS says "infeasible" but every constraint can be met within NEAR_TOLERANCE (elastic LP), a rational phase-1
# simplex decides. A clearly infeasible system (violation > NEAR_TOLERANCE) needs no rational work.
NEAR_TOLERANCE = 1e-6


def violation(system: ConstraintSystem, rows: list[Row] | None = None) -> float:
    """Least total violation Σ|rows(π) − rhs| (and Σπ = 1) over π ≥ 0, by HiGHS: 0 iff feasible (in floats)."""
    A_eq, b_eq, A_ge, b_ge = system.matrices(rows)
    N = system.n_worlds
    A = sp.vstack([A_eq, sp.csr_matrix(np.ones((1, N)))]).tocsr()
    b = np.append(b_eq, 1.0)
    m, g = A.shape[0], A_ge.shape[0]
    eye = sp.identity(m, format="csr")
    A_eq2 = sp.hstack([A, eye, -eye, sp.csr_matrix((m, g))]).tocsr()
    kw = {}
    if g:
        kw = {"A_ub": sp.hstack([-A_ge, sp.csr_matrix((g, 2 * m)), -sp.identity(g)]).tocsr(), "b_ub": -b_ge}
    c = np.r_[np.zeros(N), np.ones(2 * m + g)]
    res = linprog(c, A_eq=A_eq2, b_eq=b, bounds=(0, None), method="highs", options=_OPTS, **kw)
    return float(res.fun) if res.status == 0 else math.inf


def integer_rows(system: ConstraintSystem, rows: list[Row] | None = None) -> tuple[list, list[str], list[int]]:
    """The rows (plus Σπ = 1) as exact integer coefficient vectors: row ``hb − θ·b`` scaled by θ's denominator."""
    rows = system.rows if rows is None else rows
    out, senses, rhs = [], [], []
    for r in rows:
        th = Fraction(r.theta)
        rh = Fraction(r.rhs)
        q = math.lcm(th.denominator, rh.denominator)
        out.append(r.hb.astype(np.int64).astype(object) * q - r.b.astype(np.int64).astype(object) * int(th * q))
        senses.append(r.sense)
        rhs.append(int(rh * q))
    out.append(np.ones(system.n_worlds, dtype=np.int64).astype(object))
    senses.append("==")
    rhs.append(1)
    return out, senses, rhs


def exact_feasible(rows: list, senses: list[str], rhs: list[int], max_pivots: int = 20000) -> bool | None:
    """Is {x ≥ 0 : row_i·x (sense_i) rhs_i} non-empty? Decided in rationals by a phase-1 simplex (Bland's rule:
    finite). ``rows`` are integer (object) vectors of one length. None if ``max_pivots`` is exhausted."""
    m = len(rows)
    if m == 0:
        return True
    n = len(rows[0])
    ineq = [i for i, s in enumerate(senses) if s != "=="]
    ns = len(ineq)
    # standard form over [x (n), slacks (ns), artificials (m)], every row with rhs >= 0
    A = np.zeros((m, n + ns), dtype=object)
    A[:, :] = 0
    b = []
    for i in range(m):
        A[i, :n] = rows[i]
    for k, i in enumerate(ineq):
        A[i, n + k] = -1 if senses[i] == ">=" else 1
    for i in range(m):
        if rhs[i] < 0:
            A[i] = -A[i]
        b.append(Fraction(abs(rhs[i])))
    nt = n + ns  # artificial of row i is column nt + i
    basis = [nt + i for i in range(m)]
    Binv = [[Fraction(int(i == j)) for j in range(m)] for i in range(m)]
    xb = list(b)

    def column(j: int) -> list[Fraction]:
        if j >= nt:
            return [Fraction(int(i == j - nt)) for i in range(m)]
        return [Fraction(v) for v in A[:, j]]

    for _ in range(max_pivots):
        if not any(v for j, v in zip(basis, xb) if j >= nt):
            return True  # every artificial is at 0: the phase-1 objective reached its lower bound
        cb = [Fraction(1) if j >= nt else Fraction(0) for j in basis]
        y = [sum((cb[i] * Binv[i][k] for i in range(m) if cb[i]), Fraction(0)) for k in range(m)]
        L = math.lcm(*(v.denominator for v in y))
        Y = np.array([int(v * L) for v in y], dtype=object)
        red = -(Y @ A)  # reduced costs (scaled by L) of the structural columns: c_j = 0
        inb = set(basis)
        entering = next((j for j in np.flatnonzero(red < 0).tolist() if j not in inb), None)
        if entering is None:
            art = [nt + i for i in range(m) if nt + i not in inb and L - Y[i] < 0]
            entering = art[0] if art else None
        if entering is None:
            return sum((v for j, v in zip(basis, xb) if j >= nt), Fraction(0)) == 0
        a = column(entering)
        d = [sum((Binv[i][k] * a[k] for k in range(m) if a[k]), Fraction(0)) for i in range(m)]
        cand = [(xb[i] / d[i], basis[i], i) for i in range(m) if d[i] > 0]
        if not cand:  # unbounded phase 1 cannot happen (objective >= 0)
            return None
        best = min(c[0] for c in cand)
        r = min((c for c in cand if c[0] == best), key=lambda c: c[1])[2]
        piv = d[r]
        Binv[r] = [v / piv for v in Binv[r]]
        xb[r] = xb[r] / piv
        for i in range(m):
            if i != r and d[i]:
                f = d[i]
                Binv[i] = [u - f * v for u, v in zip(Binv[i], Binv[r])]
                xb[i] -= f * xb[r]
        basis[r] = entering
    log.warning("exact phase-1 simplex did not finish in %d pivots", max_pivots)
    return None


def decide_feasible(system: ConstraintSystem, rows: list[Row] | None = None, exact: bool = True) -> bool:
    """Rule-PSAT consistency: HiGHS, made exact (rationals) when ``exact`` and the verdict is near the tolerance."""
    if system.n_worlds == 0:
        return False
    res = _lp(system, np.zeros(system.n_worlds), rows)
    if not exact:
        return res.status == 0
    sub = system if rows is None else ConstraintSystem(system.atoms, system.W, list(rows))
    if res.status == 0 and exact_optimum(sub, [Fraction(0)] * system.n_worlds, True, res.x) is not None:
        return True  # HiGHS's vertex is exactly feasible: certified
    if res.status != 0 and violation(system, rows) > NEAR_TOLERANCE:
        return False  # clearly infeasible
    verdict = exact_feasible(*integer_rows(system, rows))
    if verdict is None:
        log.warning("exact feasibility undecided; keeping HiGHS's verdict")
        return res.status == 0
    return verdict


def solve_lp(
    system: ConstraintSystem, c: np.ndarray, maximize: bool, exact_c: list[Fraction] | None = None
) -> LPResult:
    """max (or min) c·π subject to the rows and Σπ = 1. With ``exact_c`` the optimum is certified in rationals."""
    res = _lp(system, -c if maximize else c)
    if res.status == 2:
        raise InfeasibleError(res.message)
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    value = float(c @ res.x)
    rows = system.rows
    eq_idx = [i for i, r in enumerate(rows) if r.sense == "=="]
    ge_idx = [i for i, r in enumerate(rows) if r.sense != "=="]
    duals = np.zeros(len(rows))
    if eq_idx:
        duals[eq_idx] = np.asarray(res.eqlin.marginals[: len(eq_idx)])
    if ge_idx:
        duals[ge_idx] = np.asarray(res.ineqlin.marginals)
    out = LPResult(value, np.clip(res.x, 0, None), duals)
    if exact_c is not None:
        n_sl = len(ge_idx)
        tight = np.zeros(system.n_worlds + n_sl, dtype=bool)
        tight[: system.n_worlds] = np.abs(np.asarray(res.lower.marginals)) < 1e-9
        if n_sl:
            tight[system.n_worlds :] = np.abs(np.asarray(res.ineqlin.marginals)) < 1e-9  # inactive: slack basic
        ex = exact_optimum(system, exact_c, maximize, res.x, tight=tight)
        if ex is None:
            out.exact_status = "failed"
        else:
            out.exact, out.exact_status = ex, "certified"
            if abs(float(ex) - value) > 1e-7:
                log.warning("exact LP value %s differs from HiGHS %.12g", ex, value)
            out.value = float(ex)
    return out


def support_mask(system: ConstraintSystem) -> np.ndarray | None:
    """Worlds that some consistent distribution gives positive probability (None if the system is infeasible).

    One homogenised LP: max Σ t_ω s.t. rows(π) = rhs·s, Σπ = s, 0 ≤ t_ω ≤ π_ω, t_ω ≤ 1; by scaling, every world
    that can be positive reaches t_ω = 1 simultaneously.
    """
    N = system.n_worlds
    if N == 0:
        return None
    A_eq, b_eq, A_ge, b_ge = system.matrices()
    Z = sp.csr_matrix
    # variables [π (N), t (N), s (1)]
    eq = sp.vstack([
        sp.hstack([A_eq, Z((A_eq.shape[0], N)), Z(-b_eq.reshape(-1, 1))]),
        sp.hstack([Z(np.ones((1, N))), Z((1, N)), Z(np.array([[-1.0]]))]),
    ]).tocsr()  # fmt: skip
    ub = [sp.hstack([-sp.identity(N), sp.identity(N), Z((N, 1))])]
    if A_ge.shape[0]:
        ub.append(sp.hstack([-A_ge, Z((A_ge.shape[0], N)), Z(b_ge.reshape(-1, 1))]))
    A_ub = sp.vstack(ub).tocsr()
    c = np.concatenate([np.zeros(N), -np.ones(N), [0.0]])
    bounds = [(0, None)] * N + [(0, 1)] * N + [(0, None)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(A_ub.shape[0]), A_eq=eq, b_eq=np.zeros(eq.shape[0]), bounds=bounds,
                  method="highs", options=_OPTS)  # fmt: skip
    if res.status != 0:
        return None
    t = res.x[N : 2 * N]
    mask = t > 0.5
    return mask if mask.any() else None


# ------------------------------------------------------------------------------------------ exact rational simplex
class _StandardForm:
    """Rows over [π (N), slacks] (each inequality gets one slack: ≥ → −s, ≤ → +s) plus Σπ = 1.

    Float matrix for guessing and filtering; exact Fraction columns built on demand (only basis and candidate
    columns are ever needed in rationals).
    """

    def __init__(self, system: ConstraintSystem):
        rows = system.rows
        self.N = N = system.n_worlds
        ineq = [i for i, r in enumerate(rows) if r.sense != "=="]
        self.n_var = N + len(ineq)
        self.m = len(rows) + 1
        self.hb = [r.hb for r in rows]
        self.b_mask = [r.b for r in rows]
        self.theta = [Fraction(r.theta) for r in rows]
        self.slack_row = {N + k: (i, Fraction(-1 if rows[i].sense == ">=" else 1)) for k, i in enumerate(ineq)}
        self.b = [Fraction(r.rhs) for r in rows] + [Fraction(1)]
        Af = np.zeros((self.m, self.n_var))
        for i, r in enumerate(rows):
            Af[i, :N] = r.coeffs()
        Af[-1, :N] = 1.0
        for j, (i, v) in self.slack_row.items():
            Af[i, j] = float(v)
        self.Af = Af
        self._cache: dict[int, list[Fraction]] = {}

    def col(self, j: int) -> list[Fraction]:
        c = self._cache.get(j)
        if c is None:
            if j < self.N:
                c = [(Fraction(1) if h[j] else Fraction(0)) - (t if bm[j] else 0)
                     for h, bm, t in zip(self.hb, self.b_mask, self.theta)] + [Fraction(1)]  # fmt: skip
            else:
                c = [Fraction(0)] * self.m
                i, v = self.slack_row[j]
                c[i] = v
            self._cache[j] = c
        return c


def _solve(M: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction] | None:
    """Gauss–Jordan over the rationals; None when singular."""
    n = len(M)
    a = [[*row[:], v] for row, v in zip(M, rhs)]
    for c in range(n):
        p = next((r for r in range(c, n) if a[r][c] != 0), None)
        if p is None:
            return None
        a[c], a[p] = a[p], a[c]
        piv = a[c][c]
        a[c] = [v / piv for v in a[c]]
        for r in range(n):
            if r != c and a[r][c] != 0:
                f = a[r][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c])]
    return [a[r][n] for r in range(n)]


def _entering_exact(sf: _StandardForm, rows: list[int], y: list[Fraction], cc_num, cc_den: int, basis: set[int]):
    """Lowest-index column with a positive exact reduced cost (Bland), or None: all reduced costs at once in integers.

    d_j = c_j − Σ_i y_i A_ij with A_ij = [hb_ij] − θ_i [b_ij]; scaled by L = lcm of all denominators.
    """
    yr = {i: v for i, v in zip(rows, y) if v != 0}
    dens = [cc_den, *(v.denominator for v in yr.values())]
    dens += [sf.theta[i].denominator for i in yr if i < len(sf.theta)]
    L = math.lcm(*dens)
    N = sf.N
    acc = cc_num[:N] * (L // cc_den)  # (N,) object ints: L·c_j
    for i, v in yr.items():
        if i == sf.m - 1:  # normalisation row: coefficient 1 everywhere
            acc = acc - int(v * L)
            continue
        a = int(v * L)
        bt = int(v * sf.theta[i] * L)
        acc = acc - sf.hb[i].astype(int).astype(object) * a + sf.b_mask[i].astype(int).astype(object) * bt
    for j in np.flatnonzero(acc > 0).tolist():
        if j not in basis:
            return j
    for j, (i, sv) in sf.slack_row.items():  # slack columns: c_j = 0, single entry
        if j not in basis and i in yr and cc_num[j] * (L // cc_den) - int(yr[i] * sv * L) > 0:
            return j
    return None


def exact_optimum(
    system: ConstraintSystem,
    c: list[Fraction],
    maximize: bool,
    x_float: np.ndarray,
    max_pivots: int = 200,
    tight: np.ndarray | None = None,
) -> Fraction | None:
    """Certify the LP optimum exactly: basis guessed from HiGHS's vertex, then Bland's rational simplex to optimality.

    Reduced costs of all columns are computed exactly with Python integers (vectorised over a common denominator).
    Returns the optimal value as a Fraction, or None if no primal-feasible starting basis could be recovered.
    """
    sf = _StandardForm(system)
    N, n_var, Af = sf.N, sf.n_var, sf.Af
    cc = [(v if maximize else -v) for v in c] + [Fraction(0)] * (n_var - N)
    cc_den = math.lcm(*(v.denominator for v in cc))
    cc_num = np.array([int(v * cc_den) for v in cc], dtype=object)  # (n_var,) exact integers
    x = np.zeros(n_var)
    x[:N] = x_float
    resid = np.array([float(bb) for bb in sf.b]) - Af[:, :N] @ x_float
    for j, (i, v) in sf.slack_row.items():
        x[j] = resid[i] / float(v)
    # independent rows (float rank; every row is re-checked exactly at the end)
    # pivoted QR of the small Gram matrix A·Aᵀ (m × m): its independent columns are independent rows of A
    _, R, piv = scipy.linalg.qr(Af @ Af.T, pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int((diag > 1e-9 * max(diag[0], 1.0)).sum()) if diag.size else 0
    rows = sorted(piv[:rank].tolist())
    br = [sf.b[i] for i in rows]
    Afr = Af[rows]
    # candidate basis: the support of HiGHS's vertex, then dual-tight columns (zero reduced cost), then the rest
    key = np.where(x > 1e-9, -x, np.where(tight, 1.0, 2.0)) if tight is not None else -x
    order = np.argsort(key, kind="stable")
    basis: list[int] = []
    Q = np.zeros((rank, 0))
    for j in order.tolist():
        v = Afr[:, j]
        if Q.shape[1]:
            v = v - Q @ (Q.T @ v)
        nv = np.linalg.norm(v)
        if nv > 1e-9:
            Q = np.hstack([Q, (v / nv)[:, None]])
            basis.append(j)
            if len(basis) == rank:
                break
    if len(basis) < rank:
        return None

    def rcol(j: int) -> list[Fraction]:
        col = sf.col(j)
        return [col[i] for i in rows]

    for _ in range(max_pivots):
        B = [list(r) for r in zip(*[rcol(j) for j in basis])]  # (rank, rank)
        xb = _solve(B, br)
        if xb is None or any(v < 0 for v in xb):
            return None
        Bt = [[B[i][k] for i in range(rank)] for k in range(rank)]
        y = _solve(Bt, [cc[j] for j in basis])
        if y is None:
            return None
        entering = _entering_exact(sf, rows, y, cc_num, cc_den, set(basis))
        if entering is None:
            for i in range(sf.m):  # every original row, including those dropped as redundant
                lhs = sum((sf.col(j)[i] * v for j, v in zip(basis, xb) if v != 0), Fraction(0))
                if lhs != sf.b[i]:
                    return None
            return sum((c[j] * v for j, v in zip(basis, xb) if j < N and v != 0), Fraction(0))
        d_col = _solve(B, rcol(entering))
        if d_col is None:
            return None
        ratios = [(xb[i] / d_col[i], basis[i], i) for i in range(rank) if d_col[i] > 0]
        if not ratios:
            return None  # unbounded: cannot happen on a probability simplex
        best = min(r[0] for r in ratios)
        leave = min((r for r in ratios if r[0] == best), key=lambda r: r[1])[2]
        basis[leave] = entering
    log.warning("exact simplex did not finish in %d pivots", max_pivots)
    return None
