"""Seeded generator of the shipped case table (the embedded default's "recorded cases", spec §2 motivation).

A simulated randomised trial: each patient gets one of three treatments; the recorded outcomes are whether
inflammation went down, whether the fever went down, whether the treatment was tolerated, and recovery. Recovery
only happens through one of the two mechanisms (so the table respects the closed-world reading of the rules
``recovered <- inflammation_down`` and ``recovered <- fever_down``). The true parameters are known, so the true
expected utility of every treatment can be computed and compared with what PADF decides from the fitted rules.

Regenerate the shipped file with ``python scripts/make_cases.py`` (seed 0, 600 patients).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ATOMS", "TREATMENTS", "TRUE", "generate_cases", "shipped_cases_path", "true_utilities"]

TREATMENTS = ("ibuprofen", "paracetamol", "combination")
ATOMS = ("inflammation_down", "fever_down", "tolerated", "recovered")
#: P(mechanism | treatment) and P(recovered | inflammation_down, fever_down); mechanisms independent given treatment.
TRUE = {
    "inflammation_down": {"ibuprofen": 0.75, "paracetamol": 0.35, "combination": 0.80},
    "fever_down": {"ibuprofen": 0.50, "paracetamol": 0.85, "combination": 0.85},
    "tolerated": {"ibuprofen": 0.85, "paracetamol": 0.95, "combination": 0.70},
    "recovered": {(1, 1): 0.85, (1, 0): 0.65, (0, 1): 0.55, (0, 0): 0.0},
}
GOAL_WEIGHTS = {"recovered": 1.0, "tolerated": 0.5}


def generate_cases(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """``n`` patients: columns ``patient, treatment, inflammation_down, fever_down, tolerated, recovered`` (0/1)."""
    rng = np.random.default_rng(seed)
    t = rng.choice(len(TREATMENTS), size=n)  # (n,) randomised allocation
    names = np.array(TREATMENTS)[t]
    cols: dict[str, np.ndarray] = {}
    for atom in ("inflammation_down", "fever_down", "tolerated"):
        p = np.array([TRUE[atom][x] for x in names])
        cols[atom] = (rng.random(n) < p).astype(int)
    p_rec = np.array([TRUE["recovered"][(i, f)] for i, f in zip(cols["inflammation_down"], cols["fever_down"])])
    cols["recovered"] = (rng.random(n) < p_rec).astype(int)
    return pd.DataFrame({"patient": np.arange(1, n + 1), "treatment": names, **cols})


def true_utilities() -> dict[str, float]:
    """The true expected utility Σ_g w_g P(g | treatment) under the generating model (for comparisons)."""
    out = {}
    for d in TREATMENTS:
        pi, pf = TRUE["inflammation_down"][d], TRUE["fever_down"][d]
        rec = sum(
            TRUE["recovered"][(i, f)] * (pi if i else 1 - pi) * (pf if f else 1 - pf) for i in (0, 1) for f in (0, 1)
        )
        out[d] = GOAL_WEIGHTS["recovered"] * rec + GOAL_WEIGHTS["tolerated"] * TRUE["tolerated"][d]
    return out


def shipped_cases_path() -> Path:
    return Path(__file__).parent / "data" / "treatment_cases.csv"
