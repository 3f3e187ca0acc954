"""Command line (spec §7): ``padf solve | check | explain | fit | train``.

Exit codes: 0 ok, 2 parse/schema/data error, 3 inconsistent rules, 4 size limit (1: internal error). Every error is
printed as one line ``padf: error: ...`` on stderr, never a traceback (set PADF_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from padf.errors import PadfError, ParseError
from padf.framework import CRITERIA, Evaluation, Framework
from padf.parse import (
    DECISION_SEMANTICS,
    INDEPENDENCE,
    LAPLACE,
    OBJECTIVES,
    Problem,
    format_fraction,
    load_problem,
    problem_to_dict,
)
from paperkit.errors import PaperkitError

__all__ = ["main", "render_solution", "solve_problem"]


def markdown_table(*args: Any, **kw: Any) -> str:
    from paperkit.report import markdown_table as _mt  # lazy: paperkit.report imports Lightning (seconds)

    return _mt(*args, **kw)


def save_json(*args: Any, **kw: Any) -> Path:
    from paperkit.report import save_json as _sj

    return _sj(*args, **kw)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="padf",
        description="Probabilistic abstract decision frameworks (PADF).",
        epilog="exit codes: 0 ok, 1 internal error, 2 parse/schema/data error, 3 inconsistent rules, 4 size limit, "
        "141 output pipe closed",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)

    def overrides(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("semantic options (override the file)")
        g.add_argument("--closed-world", choices=["on", "off"], help="probabilistic closed-world assumption")
        g.add_argument("--independence", choices=INDEPENDENCE, help="search-space reduction")
        g.add_argument("--objective", choices=OBJECTIVES, help="goal aggregation")
        g.add_argument("--laplace", choices=LAPLACE, help="Laplace reading")
        g.add_argument(
            "--decision-semantics", choices=DECISION_SEMANTICS, help="per-decision sub-frameworks or one joint"
        )
        g.add_argument("--tie-tolerance", type=float, help="decisions within this of the best are tied (1e-9)")
        g.add_argument("--max-atoms", type=int, help="refuse components with more atoms (default 20)")

    s = sub.add_parser("solve", help="evaluate every decision and pick the optimal ones")
    s.add_argument("file", help="problem file (.yaml/.yml or .json)")
    s.add_argument("--criterion", choices=[*CRITERIA, "hurwicz", "all"], default="all",
                   help="criterion to rank by (default: all three; hurwicz = alpha*V+ + (1-alpha)*V-)")  # fmt: skip
    s.add_argument("--alpha", type=float, default=0.5, help="Hurwicz optimism weight (only with --criterion hurwicz)")
    s.add_argument("--format", choices=["table", "json"], default="table", help="output format (JSON: see README)")
    s.add_argument("--exact", action="store_true", help="print LP values as exact fractions")
    overrides(s)
    c = sub.add_parser("check", help="parse the file and check that the rules are consistent")
    c.add_argument("file", help="problem file (.yaml/.yml or .json)")
    overrides(c)
    e = sub.add_parser("explain", help="extreme and max-entropy distributions of one decision, binding rules")
    e.add_argument("file", help="problem file (.yaml/.yml or .json)")
    e.add_argument("--decision", required=True, help="the decision to explain")
    e.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    overrides(e)
    f = sub.add_parser("fit", help="estimate the rules' probabilities from a CSV of recorded cases")
    f.add_argument("cases", help="CSV: one 0/1 column per atom, and a decision column (or 0/1 decision columns)")
    f.add_argument("--structure", required=True, help="problem file whose rules have no (or ignored) probabilities")
    f.add_argument("--estimator", choices=["point", "wilson", "clopper-pearson"])
    f.add_argument("--level", type=float, help="confidence level of the interval (default 0.95)")
    f.add_argument("--decision-column", help="name of the column holding the decision taken")
    f.add_argument("-o", "--output", help="problem file to write (default: stdout)")
    t = sub.add_parser("train", help="fit the rules on the case table, then solve (the embedded default)")
    t.add_argument("--config", help="problem file (default: the packaged default.yaml)")
    t.add_argument("--out", default="runs/padf", help="runs root; a new version_N folder is created")
    overrides(t)
    return ap


def _validate_options(a: argparse.Namespace) -> None:
    """Command-line overrides obey the same rules as the file keys (exit 2 otherwise)."""
    t = getattr(a, "tie_tolerance", None)
    if t is not None and not (math.isfinite(t) and 0 <= t < 1):
        raise ParseError(f"--tie-tolerance must be a number in [0, 1), got {t!r}")
    m = getattr(a, "max_atoms", None)
    if m is not None and m < 1:
        raise ParseError(f"--max-atoms must be a positive integer, got {m!r}")
    al = getattr(a, "alpha", None)
    if al is not None and not (math.isfinite(al) and 0 <= al <= 1):
        raise ParseError(f"--alpha (Hurwicz optimism weight) must be in [0, 1], got {al!r}")
    lv = getattr(a, "level", None)
    if lv is not None and not (math.isfinite(lv) and 0 < lv < 1):
        raise ParseError(f"--level must be in (0, 1), got {lv!r}")


def _apply_overrides(prob: Problem, a: argparse.Namespace) -> Problem:
    kw: dict[str, Any] = {}
    if getattr(a, "closed_world", None):
        kw["closed_world"] = a.closed_world == "on"
    for key in ("independence", "objective", "laplace", "decision_semantics", "tie_tolerance", "max_atoms"):
        v = getattr(a, key, None)
        if v is not None:
            kw[key] = v
    return prob.with_(**kw) if kw else prob


def _load(path: str, a: argparse.Namespace) -> Framework:
    prob = load_problem(path)
    if prob.fit:
        from padf.fit import fit_problem

        prob = fit_problem(prob)
    return Framework(_apply_overrides(prob, a))


def _fmt(x: float, exact: Any = None, show_exact: bool = False) -> str:
    s = f"{x:.6f}"
    return f"{s} ({exact})" if show_exact and exact is not None else s


def _with_hurwicz(ev: Evaluation, criteria: Sequence[str], alpha: float) -> dict[str, Any]:
    out = ev.to_dict()
    if "hurwicz" in criteria:
        out.update(hurwicz=ev.value("hurwicz", alpha), alpha=alpha)
    return out


def solve_problem(fw: Framework, criteria: Sequence[str] = CRITERIA, alpha: float = 0.5) -> dict[str, Any]:
    """Evaluate every decision and the optimal decision(s) per criterion, as a JSON-ready dict."""
    p = fw.problem
    evs = fw.evaluate_all()
    notes = sorted({n for ev in evs.values() for n in ev.notes})
    return {
        "problem": p.name,
        "options": {
            "closed_world": p.closed_world,
            "independence": p.independence,
            "objective": p.objective,
            "laplace": p.laplace,
            "decision_semantics": p.decision_semantics,
            "tie_tolerance": p.tie_tolerance,
        },
        "decisions": {d: _with_hurwicz(ev, criteria, alpha) for d, ev in evs.items()},
        "optimal": {c: fw.optimal(c, alpha=alpha) for c in criteria},
        "approximate": any(ev.approximate for ev in evs.values()),
        "notes": notes,
        "warnings": fw.lint(),
    }


def render_solution(fw: Framework, sol: dict[str, Any], exact: bool = False) -> str:
    p = fw.problem
    evs: dict[str, Evaluation] = fw.evaluate_all()
    rows = [{"decision": d, "pessimistic V-": _fmt(ev.lower, ev.lower_exact, exact), "laplace VL": f"{ev.laplace:.6f}",
             "optimistic V+": _fmt(ev.upper, ev.upper_exact, exact), "worlds": ev.n_worlds,
             "residual": f"{ev.residual:.1e}"} for d, ev in evs.items()]  # fmt: skip
    head = (f"problem '{p.name}': closed_world={'on' if p.closed_world else 'off'}, independence={p.independence}, "
            f"objective={p.objective}, laplace={p.laplace}")  # fmt: skip
    lines = [head, markdown_table(rows)]
    for c, ds in sol["optimal"].items():
        lines.append(f"{c:>12} -> {', '.join(ds)}" + ("  (tie)" if len(ds) > 1 else ""))
    lines.extend(f"note: {n}" for n in sol["notes"])
    lines.extend(f"warning: {w}" for w in sol.get("warnings", []))
    return "\n".join(lines)


def _explain(fw: Framework, d: str) -> dict[str, Any]:
    ev = fw.evaluate(d, details=True)
    out: dict[str, Any] = {"decision": d, "values": ev.to_dict(), "components": []}
    if ev.independence == "ria":
        out["note"] = "independence: ria has no joint distribution to show; rerun with --independence components"
        return out
    for r in ev.components:
        comp: dict[str, Any] = {"atoms": list(r.atoms), "worlds": r.n_worlds}
        dist: dict[str, dict[str, float]] = {}

        def add(which: str, W, pi, dist=dist, atoms=r.atoms) -> None:
            for w, v in zip(W, pi):
                if v > 1e-12:
                    key = " ".join(a if b else f"¬{a}" for a, b in zip(atoms, w))
                    dist.setdefault(key, {})[which] = float(v)

        add("min", r.system.W, r.lp_min.pi)
        add("max", r.system.W, r.lp_max.pi)
        if r.me is not None:
            add("maxent", r.system.W if r.support is None else r.system.W[r.support], r.me.pi)
        comp["distributions"] = dist
        labels = [row.label + ("" if row.sense == "==" else f" [{row.sense} {format_fraction(row.theta)}]")
                  for row in r.system.rows]  # fmt: skip
        comp["binding"] = {
            "pessimistic": {lab: float(y) for lab, y in zip(labels, r.lp_min.duals) if abs(y) > 1e-9},
            "optimistic": {lab: float(y) for lab, y in zip(labels, r.lp_max.duals) if abs(y) > 1e-9},
            "laplace": {} if r.me is None else {lab: float(y) for lab, y in zip(labels, r.me.lam) if abs(y) > 1e-9},
        }
        out["components"].append(comp)
    return out


def _render_explain(ex: dict[str, Any]) -> str:
    v = ex["values"]
    lines = [f"decision '{ex['decision']}': pessimistic {v['pessimistic']:.6f}, laplace {v['laplace']:.6f}, "
             f"optimistic {v['optimistic']:.6f}"]  # fmt: skip
    if "note" in ex:
        lines.append(ex["note"])
    for i, c in enumerate(ex["components"], 1):
        lines.append(
            f"\ncomponent {i}: atoms {', '.join(c['atoms'])} ({c['worlds']} worlds after the closed-world filter)"
        )
        rows = [
            {
                "world": w,
                "min (pessimistic)": f"{p.get('min', 0):.6f}",
                "maxent (laplace)": f"{p.get('maxent', 0):.6f}",
                "max (optimistic)": f"{p.get('max', 0):.6f}",
            }
            for w, p in sorted(c["distributions"].items())
        ]
        lines.append(markdown_table(rows))
        for crit, b in c["binding"].items():
            lines.append(f"binding rules ({crit}): " + ("; ".join(f"{k} (multiplier {y:+.4g})" for k, y in b.items())
                                                        or "none"))  # fmt: skip
    return "\n".join(lines)


def _next_run_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    n = 0
    while (root / f"version_{n}").exists():
        n += 1
    out = root / f"version_{n}"
    out.mkdir()
    return out


def _cmd_fit(a: argparse.Namespace) -> int:
    from padf.fit import fit_problem

    prob = load_problem(a.structure, structure=True)
    if not prob.fit:
        prob = prob.with_(fit={})
    fitted, table = fit_problem(prob, a.cases, a.estimator, a.level, a.decision_column, return_table=True)
    text = yaml.safe_dump(problem_to_dict(fitted), sort_keys=False, allow_unicode=True)
    Framework(fitted).check()
    if a.output:
        Path(a.output).write_text(text)
        print(markdown_table(table), file=sys.stderr)
        print(f"wrote {a.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from padf.fit import fit_problem

    path = a.config or str(resources.files("padf") / "default.yaml")
    prob = load_problem(path)
    run = _next_run_dir(Path(a.out))
    if prob.fit:
        prob, table = fit_problem(prob, return_table=True)
        print(f"fit: {prob.description.split(' | ')[-1]}")
        print(markdown_table(table))
        with open(run / "fit_table.json", "w") as fh:
            json.dump(table, fh, indent=2)
    prob = _apply_overrides(prob, a)
    (run / "problem.yaml").write_text(yaml.safe_dump(problem_to_dict(prob), sort_keys=False, allow_unicode=True))
    fw = Framework(prob)
    for w in fw.check():
        print(f"warning: {w}")
    sol = solve_problem(fw)
    print(render_solution(fw, sol, exact=True))
    save_json(sol, run / "solution.json")
    print(f"run folder: {run}")
    return 0


def _dispatch(a: argparse.Namespace) -> int:
    if a.cmd == "fit":
        return _cmd_fit(a)
    if a.cmd == "train":
        return _cmd_train(a)
    fw = _load(a.file, a)
    if a.cmd == "check":
        warnings = fw.check()
        p = fw.problem
        print(f"ok: '{p.name}' has {len(p.decisions)} decisions, {len(p.goals)} goals, {len(p.rules)} rules over "
              f"{len(p.atoms)} atoms; the rules are consistent under every decision")  # fmt: skip
        for w in warnings:
            print(f"warning: {w}")
        return 0
    if a.cmd == "solve":
        crit = [*CRITERIA] if a.criterion == "all" else [a.criterion]
        sol = solve_problem(fw, crit, a.alpha)
        print(json.dumps(sol, indent=2) if a.format == "json" else render_solution(fw, sol, a.exact))
        return 0
    if a.cmd == "explain":
        if a.decision not in fw.problem.decisions:
            raise PadfError(f"unknown decision '{a.decision}' (decisions: {', '.join(fw.problem.decisions)})")
        ex = _explain(fw, a.decision)
        print(json.dumps(ex, indent=2) if a.format == "json" else _render_explain(ex))
        return 0
    raise AssertionError(a.cmd)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``padf`` console script; returns the exit code."""
    a = _parser().parse_args(args)
    try:
        _validate_options(a)
        return _dispatch(a)
    except BrokenPipeError:  # `padf solve ... | head`: the reader left; end quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except PaperkitError as e:
        print("padf: error: " + " ".join(str(e).split()), file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except Exception as e:  # never a traceback for the user
        if os.environ.get("PADF_DEBUG"):
            raise
        print(f"padf: internal error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
