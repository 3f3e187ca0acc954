"""World enumeration, the closed-world filter and the Rule-PSAT constraint system (spec §3, algorithm steps 3–4).

Worlds are the rows of a boolean matrix ``W`` of shape (N, n) over a component's sorted atoms. A rule
``h <- B : [lo, hi]`` becomes the linear rows ``π(h∧B) − lo·π(B) ≥ 0`` and ``π(h∧B) − hi·π(B) ≤ 0`` (one equality
when ``lo == hi``); ``Σπ = 1`` is kept apart. Rows are stored as two boolean masks so that they can be evaluated in
floating point (scipy) or exactly (``Fraction``) from the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from padf.parse import Literal

__all__ = ["ConstraintSystem", "Row", "build_system", "enumerate_worlds", "literal_mask"]


def enumerate_worlds(n: int) -> np.ndarray:
    """All 2^n truth assignments, shape (2^n, n), atom j = bit j of the world index."""
    idx = np.arange(1 << n, dtype=np.int64)[:, None]  # (N, 1)
    return ((idx >> np.arange(n, dtype=np.int64)[None, :]) & 1).astype(bool)  # (N, n)


def literal_mask(W: np.ndarray, col: dict[str, int], lits: tuple[Literal, ...] | list[Literal]) -> np.ndarray:
    """Worlds where every literal holds (the empty conjunction holds everywhere), shape (N,)."""
    m = np.ones(W.shape[0], dtype=bool)
    for lit in lits:
        v = W[:, col[lit.atom]]
        m &= v if lit.positive else ~v
    return m


@dataclass
class Row:
    """``hb·π − theta·b·π  (sense)  rhs`` with ``sense`` one of ``==``, ``>=``, ``<=``; ``label`` names the rule."""

    hb: np.ndarray
    b: np.ndarray
    theta: Fraction
    sense: str
    label: str
    rhs: Fraction | float = 0
    rule_id: int = -1

    def coeffs(self) -> np.ndarray:
        return self.hb.astype(float) - float(self.theta) * self.b.astype(float)

    def exact_coeffs(self) -> list[Fraction]:
        one, th = Fraction(1), Fraction(self.theta)
        return [(one if h else 0) - (th if b else 0) for h, b in zip(self.hb.tolist(), self.b.tolist())]


@dataclass
class ConstraintSystem:
    """Worlds of one component after the closed-world filter, plus the constraint rows over them."""

    atoms: tuple[str, ...]
    W: np.ndarray  # (N, n) bool
    rows: list[Row] = field(default_factory=list)

    @property
    def n_worlds(self) -> int:
        return int(self.W.shape[0])

    def matrices(self, rows: list[Row] | None = None) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray]:
        """(A_eq, b_eq, A_ge, b_ge) in sparse float form, excluding the normalisation row."""
        rows = self.rows if rows is None else rows
        eq = [r for r in rows if r.sense == "=="]
        ge = [r for r in rows if r.sense != "=="]
        sign = [1.0 if r.sense == ">=" else -1.0 for r in ge]
        return (
            self._stack([r.coeffs() for r in eq]),
            np.array([float(r.rhs) for r in eq]),
            self._stack([s * r.coeffs() for s, r in zip(sign, ge)]),
            np.array([s * float(r.rhs) for s, r in zip(sign, ge)]),
        )

    def _stack(self, vecs: list[np.ndarray]) -> sp.csr_matrix:
        if not vecs:
            return sp.csr_matrix((0, self.n_worlds))
        return sp.csr_matrix(np.vstack(vecs)) if self.n_worlds <= 4096 else sp.vstack([sp.csr_matrix(v) for v in vecs])

    def objective(self, goals: dict[Literal, Fraction], kind: str) -> np.ndarray:
        """Utility per world: weighted sum of goal literals, or the indicator of all/any of them (§4)."""
        col = {a: i for i, a in enumerate(self.atoms)}
        masks = [literal_mask(self.W, col, (g,)) for g in goals]
        if kind == "all":
            return np.logical_and.reduce(masks).astype(float)
        if kind == "any":
            return np.logical_or.reduce(masks).astype(float)
        weights = [1.0 if kind == "count" else float(w) for w in goals.values()]
        return sum(w * m.astype(float) for w, m in zip(weights, masks))

    def exact_objective(self, goals: dict[Literal, Fraction], kind: str) -> list[Fraction]:
        col = {a: i for i, a in enumerate(self.atoms)}
        masks = [literal_mask(self.W, col, (g,)) for g in goals]
        if kind in ("all", "any"):
            red = np.logical_and.reduce(masks) if kind == "all" else np.logical_or.reduce(masks)
            return [Fraction(int(x)) for x in red.tolist()]
        weights = [Fraction(1) if kind == "count" else Fraction(w) for w in goals.values()]
        out = [Fraction(0)] * self.n_worlds
        for w, m in zip(weights, masks):
            for j in np.flatnonzero(m).tolist():
                out[j] += w
        return out


def build_system(
    atoms: tuple[str, ...],
    rules: list[tuple[Literal, tuple[Literal, ...], Fraction, Fraction, str, int]],
    supports: dict[str, list[tuple[Literal, ...]]],
    closed_world: bool,
    keep: np.ndarray | None = None,
) -> ConstraintSystem:
    """Enumerate worlds over ``atoms``, apply P-CWA (an atom heading positive rules is true only where one of its
    supporting bodies holds) and build one or two rows per rule ``(head, body, lo, hi, label, rule_id)``.
    ``keep`` optionally pre-filters the 2^n enumerated worlds."""
    W = enumerate_worlds(len(atoms))
    col = {a: i for i, a in enumerate(atoms)}
    if keep is not None:  # an extra world filter (e.g. exactly one decision), shape (2^n,)
        W = W[keep]
    if closed_world:
        keep = np.ones(W.shape[0], dtype=bool)
        for h, bodies in supports.items():
            if h not in col:
                continue
            supported = np.zeros(W.shape[0], dtype=bool)
            for body in bodies:
                supported |= literal_mask(W, col, body)
            keep &= ~W[:, col[h]] | supported
        W = W[keep]
    system = ConstraintSystem(atoms, W)
    for head, body, lo, hi, label, rid in rules:
        b = literal_mask(W, col, body)
        hb = b & literal_mask(W, col, (head,))
        if lo == hi:
            system.rows.append(Row(hb, b, lo, "==", label, rule_id=rid))
        else:
            if lo > 0:
                system.rows.append(Row(hb, b, lo, ">=", label, rule_id=rid))
            if hi < 1:
                system.rows.append(Row(hb, b, hi, "<=", label, rule_id=rid))
    return system
