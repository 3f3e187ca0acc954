"""Solver benchmark (issue: solve time vs number of atoms, spec §8 complexity): chains and trees of rules, with and
without component pruning and with the independence approximation, up to the default refusal size (max_atoms=20),
plus the pruning target: a 40-atom problem made of 4 independent 10-atom components must solve within 2x of
(one component's time x 4). Writes ``runs/bench/padf.json`` via ``paperkit.bench.write_bench`` when available.

``python -m padf.bench [--sizes 4 8 12 16 20] [--repeats 3] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from padf.errors import SizeLimitError
from padf.framework import Framework
from paperkit.report import markdown_table

__all__ = ["chain_rules", "forest_problem", "main", "time_solve", "tree_rules"]

log = logging.getLogger(__name__)


def chain_rules(n: int, prefix: str = "x", decision: str = "d") -> list[str]:
    """d -> x1 -> x2 -> ... -> xn (n atoms under d), with both P(x_{i+1} | x_i) and P(x_{i+1} | not x_i)."""
    rules = [f"{prefix}1 <- {decision} : 0.8"]
    for i in range(1, n):
        rules += [
            f"{prefix}{i + 1} <- {prefix}{i} : 0.{6 + i % 3}",
            f"{prefix}{i + 1} <- not {prefix}{i} : 0.{1 + i % 3}",
        ]
    return rules


def tree_rules(n: int, prefix: str = "t", decision: str = "d") -> list[str]:
    """An in-tree of n atoms: node i (heap numbering, root = 1 = the goal) is caused by its children 2i and 2i+1
    through one rule each; leaves are caused by the decision."""
    rules = []
    for i in range(1, n + 1):
        kids = [k for k in (2 * i, 2 * i + 1) if k <= n]
        if not kids:
            rules.append(f"{prefix}{i} <- {decision} : 0.{3 + i % 6}")
        rules += [f"{prefix}{i} <- {prefix}{k} : 0.{5 + k % 4}" for k in kids]
    return rules


def problem(rules: list[str], goals: list[str], independence: str, max_atoms: int = 20) -> dict[str, Any]:
    return {"decisions": ["d"], "goals": dict.fromkeys(goals, 1), "rules": rules,
            "independence": independence, "closed_world": True, "max_atoms": max_atoms}  # fmt: skip


def forest_problem(k: int, m: int, independence: str = "components") -> dict[str, Any]:
    """k independent chains of m atoms each, each ending in its own goal."""
    rules = [r for j in range(k) for r in chain_rules(m, prefix=f"c{j}_")]
    return problem(rules, [f"c{j}_{m}" for j in range(k)], independence)


def time_solve(prob: dict[str, Any], repeats: int = 3) -> dict[str, Any]:
    """Best-of-``repeats`` wall time of parsing + evaluating every decision under all three criteria."""
    best, ev = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        try:
            fw = Framework.from_dict(prob)
            evs = fw.evaluate_all()
        except SizeLimitError:
            return {"seconds": None, "status": "refused (size limit)"}
        best = min(best, time.perf_counter() - t0)
        ev = evs["d"]
    return {"seconds": best, "status": "ok", "worlds": ev.n_worlds, "components": ev.n_components,
            "V-": ev.lower, "VL": ev.laplace, "V+": ev.upper, "approximate": ev.approximate}  # fmt: skip


def _write(rows: list[dict[str, Any]], out: str | None, **meta: Any) -> Path:
    try:
        from paperkit.bench import write_bench

        return write_bench("padf", rows, out, **meta)
    except ImportError:  # paperkit.bench not available yet: same location and shape
        path = Path(out or "runs/bench/padf.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"slug": "padf", "rows": rows, **meta}, indent=2, default=str) + "\n")
        return path


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 12, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="sizes 4 8 12, one repeat")
    ap.add_argument("--full", action="store_true", help="also exact enumeration at 20 atoms (minutes per point)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--device", default="cpu", help="ignored: the solver runs on CPU (scipy)")
    a = ap.parse_args(args)
    sizes, repeats = ([4, 8, 12], 1) if a.quick else (list(a.sizes), a.repeats)
    if a.full and 20 not in sizes:
        sizes.append(20)
    rows: list[dict[str, Any]] = []
    for structure, make, goal in (("chain", chain_rules, "x{n}"), ("tree", tree_rules, "t1")):
        # 21 atoms: past the default refusal size (max_atoms = 20) exact modes refuse, ria still runs
        for n in [*sizes, 20, 21] if not a.quick else sizes:
            for mode in ("components", "none", "ria"):
                if n == 20 and n not in sizes and mode != "ria":
                    continue
                r = time_solve(problem(make(n), [goal.format(n=n)], mode), 1 if n >= 16 else repeats)
                rows.append({"benchmark": structure, "atoms": n, "mode": mode, **r})
                secs = "" if r["seconds"] is None else f"{r['seconds']:.4f} s"
                print(f"{structure:6s} atoms={n:3d} {mode:10s} {r['status']:22s} {secs}", flush=True)
    # pruning target: 4 independent 10-atom components vs one component
    one = time_solve(forest_problem(1, 10), repeats)
    four = time_solve(forest_problem(4, 10), repeats)
    none = time_solve(forest_problem(4, 10, "none"), 1)
    ria = time_solve(forest_problem(4, 10, "ria"), repeats)
    ratio = four["seconds"] / (4 * one["seconds"])
    for name, r in (("1x10", one), ("4x10", four), ("4x10 no pruning", none), ("4x10 ria", ria)):
        rows.append({"benchmark": "forest", "atoms": 10 if name == "1x10" else 40, "mode": name, **r})
    print(markdown_table([{k: v for k, v in r.items() if k in ("benchmark", "atoms", "mode", "status", "seconds",
                                                                 "worlds")} for r in rows], digits=4))  # fmt: skip
    verdict = "PASS" if ratio <= 2 else "FAIL"
    print(f"pruning target: t(4x10) / (4 * t(1x10)) = {ratio:.2f} (<= 2 required): {verdict}")
    path = _write(rows, a.out, pruning_ratio=ratio, pruning_target_met=ratio <= 2, repeats=repeats,
                  note="CPU wall time, best of repeats, evaluate_all() incl. parsing")  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
