"""Multi-seed ablation comparisons (``make compare-<slug>``).

:func:`run_compare` trains and tests every variant (a list of extra CLI arguments) for every seed in this process via
the project's ``main(["train", ...])``, reads each run's ``test_metrics.json``, records the wall time, and writes
``results.json`` (every run + mean/std per variant) and ``results.md`` (mean ± std table).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from paperkit.report import aggregate_seeds, markdown_table, save_json

__all__ = ["compare_arg_parser", "format_results", "run_compare"]

log = logging.getLogger(__name__)


def compare_arg_parser(description: str) -> argparse.ArgumentParser:
    """Flags shared by the projects' compare scripts: ``--seeds``, ``--out``, ``--quick``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=None, help="output folder (default runs/compare/<slug>)")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run (tiny trainer), not a measurement")
    return p


def _run_folder(cli: Any) -> Path:
    return Path(cli.trainer.log_dir)


def run_compare(
    main: Callable[[list[str]], Any],
    slug: str,
    variants: Mapping[str, Sequence[str]],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    metrics: Sequence[str] | None = None,
    base_args: Sequence[str] = (),
    out_dir: str | Path | None = None,
) -> dict:
    """Train + test each variant for each seed; return and write ``{"runs": [...], "summary": {...}}``."""
    out = Path(out_dir) if out_dir else Path("runs", "compare", slug)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for name, extra in variants.items():
        for seed in seeds:
            args = ["train", *base_args, *extra, f"--seed_everything={seed}"]
            log.info("compare %s: %s seed %d", slug, name, seed)
            t0 = time.perf_counter()
            cli = main(args)
            seconds = time.perf_counter() - t0
            folder = _run_folder(cli)
            path = folder / "test_metrics.json"
            if not path.is_file():
                raise RuntimeError(f"{slug} variant {name!r} seed {seed}: no test_metrics.json in {folder}")
            values = json.loads(path.read_text())
            if metrics is not None:
                values = {k: v for k, v in values.items() if k in metrics}
            values["time_s"] = seconds
            runs.append({"variant": name, "seed": seed, "run_dir": str(folder), "args": list(args), "metrics": values})
            save_json({"slug": slug, "runs": runs}, out / "results.partial.json")
    summary = {name: aggregate_seeds([r["metrics"] for r in runs if r["variant"] == name]) for name in variants}
    result = {"slug": slug, "seeds": list(seeds), "variants": {k: list(v) for k, v in variants.items()}}
    result.update({"runs": runs, "summary": summary})
    save_json(result, out / "results.json")
    (out / "results.md").write_text(format_results(summary, metrics) + "\n")
    (out / "results.partial.json").unlink(missing_ok=True)
    log.info("comparison written to %s", out)
    return result


def format_results(
    summary: Mapping[str, Mapping[str, Mapping[str, float]]], metrics: Sequence[str] | None = None
) -> str:
    """Markdown table: one row per variant, ``mean ± std (n)`` per metric."""
    keys: list[str] = []
    for per_variant in summary.values():
        keys.extend(k for k in per_variant if k not in keys)
    if metrics is not None:
        keys = [k for k in metrics if k in keys] + (["time_s"] if "time_s" in keys else [])
    rows = []
    for name, per_variant in summary.items():
        row: dict[str, Any] = {"variant": name}
        for k in keys:
            if k in per_variant:
                s = per_variant[k]
                row[k] = f"{s['mean']:.4f} ± {s['std']:.4f}" if k != "time_s" else f"{s['mean']:.0f}"
        n = max((s["n"] for s in per_variant.values()), default=0)
        row["seeds"] = n
        rows.append(row)
    return markdown_table(rows, ["variant", *keys, "seeds"])
