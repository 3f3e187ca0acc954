"""Laplace value by maximum entropy (spec §4 "Laplace", algorithm step 6): the convex dual

    min_{λ, μ ≥ 0}  log Σ_ω exp(λ·f(ω) + μ·g(ω)) − λ·b − μ·c,      π*(ω) ∝ exp(λ·f(ω) + μ·g(ω)),

for equality rows f(π) = b and inequality rows g(π) ≥ c (probability intervals), solved by damped
Newton with projection of the inequality multipliers onto μ ≥ 0 (projected Newton, quadratic convergence). The primal
constraint residual of π* is always reported. Worlds that no consistent distribution can weight must be removed first
(an LP pre-pass, :func:`padf.lp.support_mask`), otherwise the dual optimum lies at infinity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["MaxEntResult", "maxent"]

log = logging.getLogger(__name__)


@dataclass
class MaxEntResult:
    """π* (N,), the multipliers (eq rows then ineq rows) and the max constraint violation of π*."""

    pi: np.ndarray
    lam: np.ndarray
    residual: float
    iterations: int
    entropy: float


def _dual(F: sp.csr_matrix, rhs: np.ndarray, x: np.ndarray, logm: np.ndarray | None):
    z = F.T @ x  # (N,)
    if logm is not None:
        z = z + logm
    m = float(np.max(z))  # log-sum-exp in plain numpy (scipy's costs ~0.5 ms a call in dispatch)
    e = np.exp(z - m)
    lz = m + float(np.log(e.sum()))
    p = e / e.sum()  # (N,)
    Ef = F @ p  # (k,)
    return lz - x @ rhs, Ef - rhs, p


def _newton(F, rhs, x, k_eq: int, logm, tol: float, max_iter: int = 300) -> tuple[np.ndarray, int]:
    """Projected Newton on the dual (Bertsekas): inequality multipliers (index >= k_eq) stay >= 0."""
    it = 0
    n = x.shape[0]
    for it in range(1, max_iter + 1):  # noqa: B007
        f, g, p = _dual(F, rhs, x, logm)
        at_bound = np.zeros(n, dtype=bool)
        at_bound[k_eq:] = (x[k_eq:] <= 1e-15) & (g[k_eq:] > 0)
        free = ~at_bound
        if np.max(np.abs(g[free]), initial=0.0) < tol:
            break
        Fp = F[np.flatnonzero(free)]
        Ep = Fp @ p
        Fd = Fp.multiply(p[None, :]).tocsr() if sp.issparse(Fp) else Fp * p[None, :]
        H = Fd @ Fp.T
        H = (H.toarray() if sp.issparse(H) else np.asarray(H)) - np.outer(Ep, Ep)  # Cov_π(f) on the free set
        step = np.zeros(n)
        step[free] = -np.linalg.lstsq(H + 1e-14 * np.eye(H.shape[0]), g[free], rcond=None)[0]
        t = 1.0
        xn = x
        gmax = np.max(np.abs(g[free]), initial=0.0)
        while t > 1e-14:
            xn = x + t * step
            xn[k_eq:] = np.maximum(xn[k_eq:], 0.0)
            fn, gn, _ = _dual(F, rhs, xn, logm)
            # near the optimum f is flat within rounding (its decrease ~ |g|²/H < 1e-16·f): Armijo on f cannot see
            # progress there, so a step is then judged by the gradient it leaves (seen: 300 crawling iterations)
            if abs(fn - f) <= 1e-13 * max(1.0, abs(f)):
                if np.max(np.abs(gn[free]), initial=0.0) < gmax:
                    break
            elif fn <= f + 1e-4 * (g @ (xn - x)):
                break
            t *= 0.5
        if t <= 1e-14:
            break
        x = xn
    return x, it


def maxent(
    A_eq: sp.csr_matrix, b_eq: np.ndarray, A_ge: sp.csr_matrix, b_ge: np.ndarray,
    log_mult: np.ndarray | None = None, tol: float = 1e-11,
) -> MaxEntResult:  # fmt: skip
    """Maximum-entropy distribution over N worlds subject to A_eq π = b_eq, A_ge π ≥ b_ge (and Σπ = 1)."""
    k_eq, k_ge = A_eq.shape[0], A_ge.shape[0]
    N = A_eq.shape[1] if k_eq else A_ge.shape[1]
    F = sp.vstack([A_eq, A_ge]).tocsr() if k_eq + k_ge else sp.csr_matrix((0, N))
    rhs = np.concatenate([b_eq, b_ge])
    x = np.zeros(k_eq + k_ge)
    x, iters = _newton(F, rhs, x, k_eq, log_mult, tol)
    _, _, p = _dual(F, rhs, x, log_mult)
    viol_eq = np.abs(A_eq @ p - b_eq) if k_eq else np.zeros(0)
    viol_ge = np.maximum(0.0, b_ge - A_ge @ p) if k_ge else np.zeros(0)
    residual = float(np.max(np.concatenate([viol_eq, viol_ge]), initial=0.0))
    pos = p[p > 0]
    ent = float(-(pos * np.log(pos)).sum())
    if log_mult is not None:
        ent += float(p @ log_mult)
    if residual > 1e-6:
        log.warning("maximum-entropy residual %.2e (solution may be inaccurate)", residual)
    return MaxEntResult(p, x, residual, iters, ent)
