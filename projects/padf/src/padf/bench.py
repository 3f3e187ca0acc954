"""Solver benchmark (spec §8 complexity; issue 23): time against atoms, exact (``components``) and ``ria`` (tree
decomposition) side by side in one run, on four shapes: a chain, an in-tree of in-degree 2, a tabular D -> A -> G
star (one goal caused by every attribute: in-degree n-1) and a tabular problem with two goals caused by every
attribute (the rule graph has cycles). Exact runs up to the default refusal size (max_atoms = 20), ria past it.
Plus the pruning target: 4 independent 10-atom components within 2x of (one component's time x 4).
Writes ``runs/bench/padf.json`` (``paperkit.bench.write_bench``) and the figure ``runs/bench/padf_time.png``.

``python -m padf.bench [--sizes 4 8 10 12 16] [--ria-sizes 24 32 48 64] [--repeats 3] [--quick] [--full]``
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

__all__ = ["SHAPES", "chain_rules", "forest_problem", "main", "star_rules", "tabular_rules", "time_solve", "tree_rules"]

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


def star_rules(n: int, decision: str = "d") -> list[str]:
    """Tabular D -> A -> G with one goal: n-1 attributes a_i <- d, and g <- a_i for every i (n atoms under d)."""
    m = n - 1
    return [f"a{i} <- {decision} : 0.{1 + i % 8}" for i in range(m)] + [f"g <- a{i} : 0.6" for i in range(m)]


def tabular_rules(n: int, decision: str = "d") -> list[str]:
    """Tabular D -> A -> G with two goals g1, g2, each caused by all n-2 attributes (n atoms under d)."""
    m = n - 2
    rules = [f"a{i} <- {decision} : 0.{1 + i % 8}" for i in range(m)]
    return rules + [f"g{j} <- a{i} : 0.{4 + 2 * j}" for j in (1, 2) for i in range(m)]


SHAPES = {  # name: (rule maker, goals)
    "chain": (chain_rules, lambda n: [f"x{n}"]),
    "tree": (tree_rules, lambda n: ["t1"]),
    "star": (star_rules, lambda n: ["g"]),
    "tabular": (tabular_rules, lambda n: ["g1", "g2"]),
}


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


def _figure(rows: list[dict[str, Any]], path: Path) -> Path | None:
    try:
        from paperkit.report import new_figure, save_figure
    except ImportError:
        return None
    fig = new_figure(4.0 * len(SHAPES), 3.4)
    for k, shape in enumerate(SHAPES):
        ax = fig.add_subplot(1, len(SHAPES), k + 1)
        for mode, style in (("components", "o-"), ("ria", "s--")):
            pts = [(r["atoms"], r["seconds"]) for r in rows if r["benchmark"] == shape and r["mode"] == mode
                   and r["seconds"] is not None]  # fmt: skip
            if pts:
                ax.plot(*zip(*pts), style, label="exact (components)" if mode == "components" else "ria")
        ax.set_yscale("log")
        ax.set_xlabel("atoms under the decision")
        ax.set_ylabel("seconds (evaluate, 3 criteria)")
        ax.set_title(shape)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 10, 12, 16], help="atoms, both modes")
    ap.add_argument("--ria-sizes", type=int, nargs="+", default=[24, 32, 48, 64], help="atoms, ria only")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs below 12 atoms (1 from 12)")
    ap.add_argument("--quick", action="store_true", help="sizes 4 8, ria 16, one repeat")
    ap.add_argument("--full", action="store_true", help="also exact enumeration at 20 atoms (minutes per point)")
    ap.add_argument("--out", default=None, help="JSON path (default runs/bench/padf.json); the PNG goes beside it")
    ap.add_argument("--device", default="cpu", help="ignored: the solver runs on CPU (scipy)")
    a = ap.parse_args(args)
    sizes, ria_sizes, repeats = ([4, 8], [16], 1) if a.quick else (list(a.sizes), list(a.ria_sizes), a.repeats)
    if a.full and 20 not in sizes:
        sizes.append(20)
    rows: list[dict[str, Any]] = []
    for shape, (make, goals) in SHAPES.items():
        for n in sorted(set(sizes) | set(ria_sizes)):
            for mode in ("components", "ria"):
                if mode == "components" and n not in sizes:
                    continue
                r = time_solve(problem(make(n), goals(n), mode), 1 if n >= 12 else repeats)
                rows.append({"benchmark": shape, "atoms": n, "mode": mode, **r})
                secs = "" if r["seconds"] is None else f"{r['seconds']:.4f} s"
                print(f"{shape:8s} atoms={n:3d} {mode:10s} {r['status']:22s} {secs}", flush=True)
    # pruning target: 4 independent 10-atom components vs one component
    one = time_solve(forest_problem(1, 10), repeats)
    four = time_solve(forest_problem(4, 10), repeats)
    none = time_solve(forest_problem(4, 10, "none"), 1)
    ria = time_solve(forest_problem(4, 10, "ria"), repeats)
    ratio = four["seconds"] / (4 * one["seconds"])
    for name, r in (("1x10", one), ("4x10", four), ("4x10 no pruning", none), ("4x10 ria", ria)):
        rows.append({"benchmark": "forest", "atoms": 10 if name == "1x10" else 40, "mode": name, **r})
    side = []
    for shape in SHAPES:
        for n in sorted(set(sizes) | set(ria_sizes)):
            got = {r["mode"]: r for r in rows if r["benchmark"] == shape and r["atoms"] == n}
            ex, ri = got.get("components"), got.get("ria")
            row = {"shape": shape, "atoms": n, "exact s": ex and ex["seconds"], "ria s": ri and ri["seconds"],
                   "ria cliques": ri and ri.get("components"), "ria configs": ri and ri.get("worlds")}  # fmt: skip
            if ex and ri and ex["seconds"] and ri["seconds"]:
                row["max |diff|"] = max(abs(ex[k] - ri[k]) for k in ("V-", "VL", "V+"))
            side.append(row)
    print(markdown_table(side, digits=4))
    faster = {}  # per shape: the smallest size from which ria beat exact at every measured size
    for shape in SHAPES:
        pts = sorted((r["atoms"], r["exact s"] is None or r["ria s"] < r["exact s"]) for r in side
                     if r["shape"] == shape and r["ria s"] is not None)  # fmt: skip
        tail = [n for i, (n, _) in enumerate(pts) if all(ok for _, ok in pts[i:])]
        faster[shape] = tail[0] if tail else None
        print(f"{shape}: ria faster than exact from {faster[shape]} atoms (at every measured size from there)")
    verdict = "PASS" if ratio <= 2 else "FAIL"
    print(f"pruning target: t(4x10) / (4 * t(1x10)) = {ratio:.2f} (<= 2 required): {verdict}")
    path = _write(rows, a.out, pruning_ratio=ratio, pruning_target_met=ratio <= 2, repeats=repeats,
                  ria_faster_from=faster,
                  note="CPU wall time, best of repeats, evaluate_all() incl. parsing")  # fmt: skip
    fig = _figure(rows, path.with_name(path.stem + "_time.png"))
    print(f"wrote {path}" + (f" and {fig}" if fig else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
