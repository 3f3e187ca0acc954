"""Optimistic / pessimistic values by linear programming (spec §4 criteria, §8 "exact"): HiGHS in floating point,
then an exact rational simplex started from HiGHS's vertex that certifies (or repairs) the optimum as a Fraction.

Also the LP pre-pass that finds which worlds can carry probability at all (worlds forced to π = 0 are removed before
the maximum-entropy step, §8 pitfalls) and plain feasibility (Rule-PSAT consistency).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.optimize import linprog

from padf.worlds import ConstraintSystem, Row

__all__ = ["LPResult", "exact_optimum", "feasible", "solve_lp", "support_mask"]

log = logging.getLogger(__name__)
_OPTS = {"presolve": True, "primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


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


def solve_lp(
    system: ConstraintSystem, c: np.ndarray, maximize: bool, exact_c: list[Fraction] | None = None
) -> LPResult:
    """max (or min) c·π subject to the rows and Σπ = 1. With ``exact_c`` the optimum is certified in rationals."""
    res = _lp(system, -c if maximize else c)
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
        ex = exact_optimum(system, exact_c, maximize, res.x)
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
def _standard_form(system: ConstraintSystem):
    """Rows as Fraction lists over [π (N), slacks]; each inequality gets one slack (≥: −s, ≤: +s)."""
    N = system.n_worlds
    n_sl = sum(r.sense != "==" for r in system.rows)
    A: list[list[Fraction]] = []
    b: list[Fraction] = []
    k = 0
    for r in system.rows:
        row = r.exact_coeffs() + [Fraction(0)] * n_sl
        if r.sense != "==":
            row[N + k] = Fraction(-1 if r.sense == ">=" else 1)
            k += 1
        A.append(row)
        b.append(Fraction(r.rhs))
    A.append([Fraction(1)] * N + [Fraction(0)] * n_sl)
    b.append(Fraction(1))
    return A, b, N + n_sl


def _solve(M: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction] | None:
    """Gauss–Jordan over the rationals; None when singular."""
    n = len(M)
    a = [row[:] + [v] for row, v in zip(M, rhs)]
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


def exact_optimum(
    system: ConstraintSystem, c: list[Fraction], maximize: bool, x_float: np.ndarray, max_pivots: int = 200
) -> Fraction | None:
    """Certify the LP optimum exactly: basis guessed from HiGHS's vertex, then Bland's rational simplex to optimality.

    Returns the optimal value as a Fraction, or None if no primal-feasible starting basis could be recovered.
    """
    A, b, n_var = _standard_form(system)
    N = system.n_worlds
    cc = [(v if maximize else -v) for v in c] + [Fraction(0)] * (n_var - N)
    Af = np.array([[float(v) for v in row] for row in A])  # (m, n_var)
    x = np.zeros(n_var)
    x[:N] = x_float
    resid = np.array([float(bb) for bb in b]) - Af[:, :N] @ x_float
    for i in range(len(A) - 1):
        j = np.flatnonzero(Af[i, N:])
        if j.size:
            x[N + j[0]] = resid[i] / Af[i, N + j[0]]
    # independent rows (float rank; the dropped rows are re-checked exactly at the end)
    _, _, piv = scipy.linalg.qr(Af.T, pivoting=True, mode="economic")
    rank = np.linalg.matrix_rank(Af)
    rows = sorted(piv[:rank].tolist())
    Ar = [A[i] for i in rows]
    br = [b[i] for i in rows]
    Afr = Af[rows]
    order = np.argsort(-x, kind="stable")
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
    for _ in range(max_pivots):
        B = [[Ar[i][j] for j in basis] for i in range(rank)]
        xb = _solve(B, br)
        if xb is None or any(v < 0 for v in xb):
            return None
        Bt = [[B[i][k] for i in range(rank)] for k in range(rank)]
        y = _solve(Bt, [cc[j] for j in basis])
        if y is None:
            return None
        in_basis = set(basis)
        entering = None
        for j in range(n_var):  # Bland: lowest index with positive reduced cost
            if j in in_basis:
                continue
            d = cc[j] - sum((y[i] * Ar[i][j] for i in range(rank) if Ar[i][j] != 0), Fraction(0))
            if d > 0:
                entering = j
                break
        if entering is None:
            full = [Fraction(0)] * n_var
            for j, v in zip(basis, xb):
                full[j] = v
            for row, bb in zip(A, b):  # every original row, including those dropped as redundant
                if sum((a * v for a, v in zip(row, full) if a != 0 and v != 0), Fraction(0)) != bb:
                    return None
            val = sum((cv * v for cv, v in zip(c, full[:N]) if v != 0), Fraction(0))
            return val
        d_col = _solve(B, [Ar[i][entering] for i in range(rank)])
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
