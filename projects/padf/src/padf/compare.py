"""Comparisons (``make compare-padf``): (1) how the rules are estimated from recorded cases, (2) each semantic option.

(1) On seeded re-draws of the simulated treatment trial (the generator of the shipped case table, 600 patients per
seed), the rules of the embedded default are fitted as point estimates, Wilson or Clopper–Pearson intervals; for each
we report which treatment each criterion picks, how often that is the truly best one (known from the generator),
how often the true utility of a treatment lies inside [V⁻, V⁺], and the mean width V⁺ − V⁻.
(2) On the spec's worked example (configs/paper.yaml): closed world on/off × independence components/none/ria ×
Laplace maxent/midpoint, with the values, the choices and the solve time.

Writes ``runs/compare/padf/results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from padf.cases import generate_cases, true_utilities
from padf.fit import fit_problem
from padf.framework import CRITERIA, Framework
from padf.parse import load_problem
from paperkit.report import markdown_table

__all__ = ["compare_estimators", "compare_semantics", "main"]

PAPER = Path(__file__).resolve().parents[2] / "configs" / "paper.yaml"


def compare_estimators(seeds: list[int], n: int = 600, level: float = 0.95) -> list[dict[str, Any]]:
    truth = true_utilities()
    best = max(truth, key=truth.get)
    base = load_problem(str(resources.files("padf") / "default.yaml"))
    rows = []
    for est in ("point", "wilson", "clopper-pearson"):
        hits = dict.fromkeys(CRITERIA, 0)
        picks: dict[str, list[str]] = {c: [] for c in CRITERIA}
        cover = width = total = 0
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "cases.csv"
                generate_cases(n, seed).to_csv(path, index=False)
                fw = Framework(fit_problem(base, cases=path, estimator=est, level=level))
                for c in CRITERIA:
                    opt = fw.optimal(c)
                    picks[c].append("/".join(opt))
                    hits[c] += opt == [best]
                for d, ev in fw.evaluate_all().items():
                    cover += ev.lower - 1e-12 <= truth[d] <= ev.upper + 1e-12
                    width += ev.upper - ev.lower
                    total += 1
        row: dict[str, Any] = {"estimator": est if est == "point" else f"{est} {level:g}"}
        for c in CRITERIA:
            row[f"{c}: truly best"] = f"{hits[c]}/{len(seeds)}"
        row["true utility in [V-, V+]"] = cover / total
        row["mean width V+ - V-"] = width / total
        row["picks (laplace, per seed)"] = " ".join(picks["laplace"])
        rows.append(row)
    return rows


def compare_semantics(path: Path = PAPER) -> list[dict[str, Any]]:
    base = load_problem(path)
    rows = []
    for cw, ind, lap in itertools.product((True, False), ("components", "none", "ria"), ("maxent", "midpoint")):
        prob = base.with_(closed_world=cw, independence=ind, laplace=lap)
        t0 = time.perf_counter()
        fw = Framework(prob)
        evs = fw.evaluate_all()
        choice = {c: "/".join(fw.optimal(c)) for c in CRITERIA}
        secs = time.perf_counter() - t0
        row: dict[str, Any] = {"closed_world": "on" if cw else "off", "independence": ind, "laplace": lap}
        for d, ev in evs.items():
            row[f"{d} [V-, VL, V+]"] = f"[{ev.lower:.6f}, {ev.laplace:.6f}, {ev.upper:.6f}]"
        row.update({f"{c} ->": v for c, v in choice.items()})
        row["approximate"] = any(ev.approximate for ev in evs.values())
        row["seconds"] = secs
        rows.append(row)
    return rows


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--cases", type=int, default=600, help="patients per simulated trial")
    ap.add_argument("--quick", action="store_true", help="3 seeds")
    ap.add_argument("--out", default="runs/compare/padf")
    a = ap.parse_args(args)
    seeds = a.seeds[:3] if a.quick else a.seeds
    est = compare_estimators(seeds, a.cases)
    sem = compare_semantics()
    truth = true_utilities()
    md = [
        f"## Estimators on simulated trials ({a.cases} patients, seeds {seeds[0]}..{seeds[-1]})",
        "True utilities (generator): " + ", ".join(f"{d} {v:.4f}" for d, v in truth.items()),
        "",
        markdown_table(est, digits=3),
        "",
        "## Semantic options on the worked example (configs/paper.yaml)",
        "",
        markdown_table(sem, digits=3),
    ]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"estimators": est, "semantics": sem, "truth": truth}, indent=2))
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nwrote {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
