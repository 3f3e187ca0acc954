"""``python -m kamcl.compare_ml100k``: KAMCL against baselines on real data, MovieLens-100K with its Freebase KG
(README, "Real data").

Needs ``make data-ml100k`` (``data/ml100k/``, or ``--root``). Every trained model gets the same learning-rate x L2
grid on seed 0, selected on the *validation* NDCG@10 only (the epoch is chosen by early stopping on validation within
``configs/budget_ml100k.yaml``); the selected point then runs on seeds 1 and 2, and its seed-0 grid run is the seed-0
result (the same command, so the same run). Popularity has nothing to tune. Writes
``runs/compare/kamcl_ml100k/results.{json,md}``; ``--models`` runs a subset (e.g. two processes side by side), then
``--report`` merges what is there.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from kamcl.cli import main as kamcl_main
from kamcl.compare import FULL, L2, LR, SAMPLED
from paperkit.compare import Variant, compare_arg_parser, format_results, overrides, run_compare
from paperkit.errors import run_script
from paperkit.report import aggregate_seeds, markdown_table, save_json

__all__ = ["GRID", "MODELS", "main"]

log = logging.getLogger(__name__)

GRID = [{LR: lr, L2: l2} for lr in (0.01, 0.03) for l2 in (1e-4, 1e-2)]
QUICK_GRID = GRID[:2]
DATA = ("budget_ml100k.yaml", "movielens_kg.yaml")  # layered after each model's own configs
QUICK_DATA = ("movielens_kg.yaml", "quick.yaml")  # --quick: 2 epochs, d = 8
LGCN = "ablations/lightgcn.yaml"
# key -> (row label, configs); every model but popularity is tuned on GRID
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pop": ("popularity", ("ablations/pop.yaml",)),
    "bprmf": ("BPR-MF, like only", ("ablations/bprmf.yaml",)),
    "lightgcn_target": ("LightGCN, like only", (LGCN, "ablations/lightgcn_target.yaml")),
    "lightgcn_merged": ("LightGCN, all behaviours merged (graph), like positives", (LGCN,)),
    "lightgcn_merged_pos": (
        "LightGCN, all behaviours merged (graph and positives)",
        (LGCN, "ablations/lightgcn_merged_positives.yaml"),
    ),
    "kamcl_no_kg": ("KAMCL w/o KG", ("ablations/no_kg.yaml",)),
    "kamcl": ("KAMCL", ()),
}


def _variant(key: str, point: dict, tag: str, quick: bool = False) -> Variant:
    return Variant(f"{key} {tag}".strip(), (*MODELS[key][1], *(QUICK_DATA if quick else DATA)), tuple(overrides(point)))


def run_model(key: str, seeds: list[int], out: Path, base: list[str], quick: bool = False) -> dict:
    """Grid on seeds[0] (validation only), then the selected point on the other seeds; -> {best, grid, runs}."""
    if key == "pop":
        res = run_compare(kamcl_main, "kamcl", [_variant(key, {}, "", quick)], seeds=seeds, base_args=base,
                          out_dir=out / key, quick=quick)  # fmt: skip
        return {"best": {}, "grid": [], "runs": res["runs"]}
    grid = QUICK_GRID if quick else GRID
    variants = [_variant(key, p, f"grid point {n}", quick) for n, p in enumerate(grid)]
    g = run_compare(kamcl_main, "kamcl", variants, seeds=seeds[:1], base_args=base, out_dir=out / key / "grid",
                    quick=quick)  # fmt: skip
    rows = []
    for n, (p, v) in enumerate(zip(grid, variants)):
        [run] = [r for r in g["runs"] if r["variant"] == v.name]
        rows.append({"point": n, **p, **{k: run["metrics"].get(k) for k in ("selection/val_ndcg@10",
                     "selection/best_epoch", "time_s")}, "run": run})  # fmt: skip
    best = max(rows, key=lambda r: r["selection/val_ndcg@10"])
    runs = [best["run"]]
    if len(seeds) > 1:
        res = run_compare(kamcl_main, "kamcl", [_variant(key, grid[best["point"]], "selected", quick)], seeds=seeds[1:],
                          base_args=base, out_dir=out / key / "seeds", quick=quick)  # fmt: skip
        runs += res["runs"]
    out_rows = [{k: v for k, v in r.items() if k != "run"} for r in rows]
    result = {"best": grid[best["point"]], "grid": out_rows, "runs": runs}
    save_json(result, out / key / "model.json")
    return result


def report(out: Path) -> str:
    summary, grids, best = {}, [], []
    for key, (label, _) in MODELS.items():
        path = out / key / "model.json"
        if key == "pop" and (out / key / "results.json").is_file():
            runs = json.loads((out / key / "results.json").read_text())["runs"]
            summary[label] = aggregate_seeds([r["metrics"] for r in runs])
        elif path.is_file():
            res = json.loads(path.read_text())
            summary[label] = aggregate_seeds([r["metrics"] for r in res["runs"]])
            grids += [{"model": label, **r} for r in res["grid"]]
            best.append(f"{label}: lr {res['best'][LR]:g}, L2 {res['best'][L2]:g}")
    lines = [
        "# KAMCL on MovieLens-100K with its Freebase KG (real data)",
        "",
        "Behaviours from ratings (<= 2 dislike, 3 neutral, >= 4 like = target); leave-last-out on likes by timestamp",
        "(validation = second to last); full ranking over all 1,682 items with the user's training items of every",
        "behaviour masked. Seeds 0, 1, 2; budget configs/budget_ml100k.yaml.",
        "",
        format_results(summary, FULL),
        "",
        "1 positive + 99 sampled negatives (not comparable with the table above):",
        "",
        format_results(summary, SAMPLED),
        "",
        "Grid (seed 0; selection on validation NDCG@10):",
        "",
        markdown_table(grids),
        "",
        "Selected: " + "; ".join(best),
        "",
    ]
    text = "\n".join(lines)
    save_json({"summary": summary, "grid": grids}, out / "results.json")
    (out / "results.md").write_text(text)
    return text


def main(args: list[str] | None = None) -> None:
    p = compare_arg_parser("KAMCL vs baselines on MovieLens-100K with its KG (real data; make data-ml100k first)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--root", default="data/ml100k", help="folder holding ml-100k.inter, .kg, .link")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared 2-core box)")
    p.add_argument("--report", action="store_true", help="only re-write results.md from what has finished")
    a = p.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(a.threads)
    out = Path(a.out) if a.out else Path("runs", "compare", "kamcl_ml100k")
    base = ["--trainer.enable_checkpointing=true", "--trainer.logger.init_args.name=kamcl_ml100k",
            f"--data.root={a.root}", f"--torch_threads={a.threads}"]  # fmt: skip
    if not a.report:
        for key in a.models:
            run_model(key, list(a.seeds), out, base, a.quick)
    print(report(out))


if __name__ == "__main__":
    run_script(main)
