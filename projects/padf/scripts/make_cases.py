"""Regenerate the shipped case table src/padf/data/treatment_cases.csv (seeded; see padf.cases)."""

from __future__ import annotations

import argparse

from padf.cases import generate_cases, shipped_cases_path

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(shipped_cases_path()))
    a = ap.parse_args()
    generate_cases(a.n, a.seed).to_csv(a.out, index=False)
    print(f"wrote {a.out}")
