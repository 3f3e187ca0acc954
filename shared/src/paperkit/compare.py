"""Multi-seed comparisons (``make compare-<slug>``) and validation grid searches.

A compared variant is named by the ablation YAML file(s) that make it, never by hyperparameters encoded in its name:

    VARIANTS = [Variant("EEGEncoder"), Variant("w/o transformer", ("ablations/no_transformer.yaml",))]
    run_compare(main, "eegencoder", VARIANTS, seeds=[0, 1, 2], metrics=["test/acc"], quick=opts.quick)

:func:`run_compare` trains and tests every variant for every seed in this process via the project's
``main(["train", ...])``, reads each run's ``test_metrics.json``, records the wall time and writes ``results.json``
(every run + mean/std per variant) and ``results.md``. It resumes: a (variant, seed) already recorded in
``results.partial.json`` with the same arguments is not run again. ``--quick`` layers the project's
``configs/quick.yaml`` (a seconds-long smoke setting that checks the pipeline, not a measurement).

:func:`grid_search` fits one model per grid point (``fit`` only: the test split is never looked at), selects the point
with the best monitored *validation* score of its best checkpoint and returns it as CLI overrides; its rows are cached
in ``grid_<name>.json`` so an interrupted search resumes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from paperkit.cli import selection_metrics
from paperkit.configs import config_path
from paperkit.report import aggregate_seeds, markdown_table, save_json

__all__ = [
    "Variant",
    "compare_arg_parser",
    "format_results",
    "grid_search",
    "overrides",
    "quick_args",
    "run_compare",
    "run_selected",
    "variant_args",
]

log = logging.getLogger(__name__)

QUICK_CONFIG = "quick.yaml"


@dataclass(frozen=True)
class Variant:
    """One compared setting: ``configs`` (paths relative to the project's ``configs/``) layered in order, then
    ``args`` (extra CLI arguments that are not hyperparameters, e.g. a data override shared by a group)."""

    name: str
    configs: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


def variant_args(slug: str, variant: Variant) -> list[str]:
    """The CLI arguments of a variant: ``--config <configs/...>`` per file, then its extra arguments."""
    out: list[str] = []
    for name in variant.configs:
        out += ["--config", str(config_path(slug, name))]
    return out + list(variant.args)


def quick_args(slug: str) -> list[str]:
    """``--config configs/quick.yaml`` of the project (the compare's ``--quick`` setting)."""
    return ["--config", str(config_path(slug, QUICK_CONFIG))]


def overrides(point: Mapping[str, Any]) -> list[str]:
    """``{"model.lr": 0.01}`` -> ``["--model.lr=0.01"]``."""
    return [f"--{k}={json.dumps(v) if isinstance(v, list | dict) else v}" for k, v in point.items()]


def compare_arg_parser(
    description: str, variants: Sequence[str] | None = None, epochs: bool = False
) -> argparse.ArgumentParser:
    """Flags shared by the projects' compare scripts: ``--seeds``, ``--out``, ``--quick``, ``--variants`` and, with
    ``epochs``, ``--epochs`` (overrides ``trainer.max_epochs`` of every run; see :func:`run_selected`)."""
    p = argparse.ArgumentParser(description=description)
    if epochs:
        p.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs of every run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=None, help="output folder (default runs/compare/<slug>)")
    p.add_argument("--quick", action="store_true", help="layer configs/quick.yaml: a smoke run, not a measurement")
    if variants is not None:
        p.add_argument("--variants", nargs="+", choices=list(variants), default=list(variants), metavar="NAME",
                       help=f"run only these variants (of: {', '.join(variants)})")  # fmt: skip
    return p


def run_selected(
    main: Callable[[list[str]], Any],
    slug: str,
    variants: Sequence[Variant],
    opts: argparse.Namespace,
    metrics: Sequence[str] | None = None,
    base_args: Sequence[str] = (),
) -> dict[str, Any]:
    """:func:`run_compare` driven by the parsed :func:`compare_arg_parser` flags: the variants named by
    ``--variants`` (all when the parser has no such flag), ``--seeds``, ``--out``, ``--quick`` and ``--epochs``."""
    base = list(base_args)
    if getattr(opts, "epochs", None) is not None:
        base.append(f"--trainer.max_epochs={opts.epochs}")
    names = getattr(opts, "variants", None)
    chosen = [v for v in variants if names is None or v.name in names]
    return run_compare(main, slug, chosen, seeds=opts.seeds, metrics=metrics, base_args=base, out_dir=opts.out,
                       quick=opts.quick)  # fmt: skip


def _load_partial(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (json.JSONDecodeError, AttributeError):
        log.warning("ignoring unreadable partial results %s", path)
        return []


def _variant_map(slug: str, variants: Mapping[str, Sequence[str]] | Sequence[Variant]) -> dict[str, list[str]]:
    if isinstance(variants, Mapping):
        return {k: list(v) for k, v in variants.items()}
    return {v.name: variant_args(slug, v) for v in variants}


def run_compare(
    main: Callable[[list[str]], Any],
    slug: str,
    variants: Mapping[str, Sequence[str]] | Sequence[Variant],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    metrics: Sequence[str] | None = None,
    base_args: Sequence[str] = (),
    out_dir: str | Path | None = None,
    quick: bool = False,
    resume: bool = True,
) -> dict:
    """Train + test each variant for each seed; return and write ``{"runs": [...], "summary": {...}}``."""
    out = Path(out_dir) if out_dir else Path("runs", "compare", slug)
    out.mkdir(parents=True, exist_ok=True)
    vmap = _variant_map(slug, variants)
    base = [*(quick_args(slug) if quick else []), *base_args]
    partial = out / "results.partial.json"
    done = {(r["variant"], r["seed"], tuple(r["args"])): r for r in (_load_partial(partial) if resume else [])}
    runs: list[dict[str, Any]] = []
    for name, extra in vmap.items():
        for seed in seeds:
            args = ["train", *base, *extra, f"--seed_everything={seed}"]
            if (name, seed, tuple(args)) in done:
                log.info("compare %s: %s seed %d already done (%s)", slug, name, seed, partial)
                runs.append(done[(name, seed, tuple(args))])
                continue
            log.info("compare %s: %s seed %d", slug, name, seed)
            t0 = time.perf_counter()
            cli = main(args)
            seconds = time.perf_counter() - t0
            folder = Path(cli.trainer.log_dir)
            path = folder / "test_metrics.json"
            if not path.is_file():
                raise RuntimeError(f"{slug} variant {name!r} seed {seed}: no test_metrics.json in {folder}")
            values = json.loads(path.read_text())
            if metrics is not None:
                values = {k: v for k, v in values.items() if k in metrics}
            values["time_s"] = seconds
            runs.append({"variant": name, "seed": seed, "run_dir": str(folder), "args": list(args), "metrics": values})
            save_json({"slug": slug, "runs": [*runs, *_rest(done, runs)]}, partial)
    summary = {name: aggregate_seeds([r["metrics"] for r in runs if r["variant"] == name]) for name in vmap}
    result = {"slug": slug, "seeds": list(seeds), "quick": quick, "variants": vmap, "runs": runs, "summary": summary}
    save_json(result, out / "results.json")
    (out / "results.md").write_text(format_results(summary, metrics) + "\n")
    rest = _rest(done, runs)
    if rest:  # a narrower call (other variants or seeds): keep the other recorded runs for a later, wider call
        save_json({"slug": slug, "runs": [*runs, *rest]}, partial)
    else:
        partial.unlink(missing_ok=True)
    log.info("comparison written to %s", out)
    return result


def _rest(done: Mapping[tuple, dict], runs: Sequence[dict]) -> list[dict]:
    """Partial runs not (yet) part of this call's list: kept so that a narrower call does not drop them."""
    have = {(r["variant"], r["seed"], tuple(r["args"])) for r in runs}
    return [r for k, r in done.items() if k not in have]


def format_results(
    summary: Mapping[str, Mapping[str, Mapping[str, float]]], metrics: Sequence[str] | None = None
) -> str:
    """Markdown table: one row per variant, ``mean ± std`` per metric, and the number of seeds."""
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


def grid_search(
    main: Callable[[list[str]], Any],
    slug: str,
    grid: Mapping[str, Sequence[Any]],
    *,
    monitor: str,
    mode: Literal["max", "min"] = "max",
    base_args: Sequence[str] = (),
    seed: int = 0,
    out_dir: str | Path | None = None,
    name: str = "grid",
) -> dict[str, Any]:
    """Fit every point of ``grid`` (``{"model.lr": [...], ...}``) on ``seed``; return the best point on validation.

    The score of a point is its best checkpoint's monitored value (``--checkpoint.monitor`` must be ``monitor``; it is
    passed for you). Rows are written to ``grid_<name>.json`` after every point; a rerun skips the points recorded
    there with the same arguments. Ties keep the first point in grid order.
    """
    out = Path(out_dir) if out_dir else Path("runs", "compare", slug)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"grid_{name}.json"
    cached = {tuple(r["args"]): r for r in (json.loads(path.read_text())["rows"] if path.is_file() else [])}
    keys = list(grid)
    rows: list[dict[str, Any]] = []
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values))
        args = ["fit", *base_args, *overrides(point), f"--checkpoint.monitor={monitor}", f"--checkpoint.mode={mode}",
                f"--seed_everything={seed}"]  # fmt: skip
        if tuple(args) in cached:
            rows.append(cached[tuple(args)])
            continue
        log.info("grid %s/%s: %s", slug, name, point)
        t0 = time.perf_counter()
        cli = main(args)
        score = cli.trainer.checkpoint_callback.best_model_score
        rows.append(
            {
                "point": point,
                "args": args,
                "score": float(score) if score is not None else float("nan"),
                "best_epoch": selection_metrics(cli.trainer).get("selection/best_epoch"),
                "run_dir": str(cli.trainer.log_dir),
                "time_s": time.perf_counter() - t0,
            }
        )
        save_json({"slug": slug, "monitor": monitor, "mode": mode, "rows": rows}, path)
    scored = [r for r in rows if r["score"] == r["score"]]  # drop NaN
    if not scored:
        raise RuntimeError(f"grid {name}: no point produced a {monitor} score")
    best = (max if mode == "max" else min)(scored, key=lambda r: r["score"])
    save_json({"slug": slug, "monitor": monitor, "mode": mode, "rows": rows, "best": best["point"]}, path)
    return dict(best["point"])
