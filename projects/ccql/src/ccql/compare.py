"""``make compare-ccql``: popularity, Markov-1, SASRec, SQN, SA2C, SASRec-CO, SASRec-CCQL and the two ablations
(no contrastive, no conservative term) over 3 seeds, on all test sequences and on the long ones (> 40 events).

Every learned variant is trained and tested with ``ccql train`` (checkpoint selected on validation purchase HR@10,
test reported once); popularity and Markov-1 are counted on the training split and evaluated with the same
full-ranking metric. Writes ``results.json`` / ``results.md`` and ``purchase_hr10_per_epoch.png`` (validation
purchase HR@10 per epoch of every variant, seed 0) to ``runs/compare/ccql/`` (``--out``). ``--data`` options are
passed through: every argument the script does not know goes to every ``ccql train``.

    python -m ccql.compare [--seeds 0 1 2] [--variants CCQL SASRec] [--quick] [--epochs N] [ccql arguments ...]
    python -m ccql.compare --config projects/ccql/configs/datasets/movielens.yaml   # MovieLens-100K
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml

from ccql.cli import main
from ccql.data import CCQLDataModule
from ccql.module import KS, RankingMetric
from paperkit.compare import Variant, compare_arg_parser, format_results, run_selected
from paperkit.report import read_metrics_csv, save_json, save_line_plot

__all__ = ["METRICS", "VARIANTS", "count_baselines", "main_compare"]

log = logging.getLogger(__name__)

# CCQL and SASRec first: an interrupted comparison (it resumes) has the two that matter most
VARIANTS = [
    Variant("CCQL"),
    Variant("SASRec", ("methods/sasrec.yaml",)),
    Variant("CO", ("methods/co.yaml",)),
    Variant("SQN", ("methods/sqn.yaml",)),
    Variant("SA2C", ("methods/sa2c.yaml",)),
    Variant("CCQL w/o contrastive", ("ablations/no_contrastive.yaml",)),
    Variant("CCQL w/o conservative", ("ablations/no_conservative.yaml",)),
]
METRICS = [
    f"test/{g}_{m}@{k}"
    for g in ("purchase", "click", "long_purchase", "long_click")
    for m in ("hr", "ndcg")
    for k in (10, 20)
]


def count_baselines(dm: CCQLDataModule) -> dict[str, dict[str, float]]:
    """Test metrics of popularity and Markov-1 (item-item transition counts, popularity for an empty state)."""
    dm.setup("fit")
    dm.setup("test")
    n = dm.n_items
    pop = dm.train_popularity().double()
    tr = dm.train_set.t
    last = tr["state"].gather(1, (tr["len_state"] - 1).clamp(min=0)[:, None]).squeeze(1)  # (M,) pad if empty
    has = last < n
    trans = torch.zeros(n, n, dtype=torch.float64)
    trans.index_put_((last[has], tr["action"][has]), torch.ones(int(has.sum()), dtype=torch.float64), accumulate=True)
    tiebreak = pop / (pop.max() + 1)  # < 1 count: popularity only orders items with equal transition counts
    out = {}
    for name in ("Popularity", "Markov-1"):
        metric = RankingMetric(KS)
        for batch in dm.test_dataloader():
            b = batch["state"].shape[0]
            if name == "Popularity":
                scores = pop.expand(b, -1)
            else:
                lst = batch["state"].gather(1, (batch["len_state"] - 1)[:, None]).squeeze(1)
                scores = torch.where((lst < n)[:, None], trans[lst.clamp(max=n - 1)], 0.0) + tiebreak
            metric.update(scores, batch["action"], batch["is_buy"], batch["long"])
        out[name] = {f"test/{k}": float(v) for k, v in metric.compute().items() if not k.endswith("_n")}
    return out


def _curves(result: dict, out: Path) -> None:
    curves, epochs = {}, None
    for run in result["runs"]:
        if run["seed"] != result["seeds"][0]:
            continue
        path = Path(run["run_dir"]) / "metrics.csv"
        if path.is_file():
            series = read_metrics_csv(path).get("val/purchase_hr@10", {})
            if series:
                epochs = sorted(series)
                curves[run["variant"]] = [series[e] for e in epochs]
    if curves and epochs is not None:
        n = min(len(v) for v in curves.values())
        save_line_plot(epochs[:n], {k: v[:n] for k, v in curves.items()}, out / "purchase_hr10_per_epoch.png",
                       "epoch", "validation purchase HR@10", "Purchase HR@10 per epoch")  # fmt: skip


def main_compare(argv: Sequence[str] | None = None) -> dict:
    p = compare_arg_parser("SASRec-CCQL against its baselines and ablations", [v.name for v in VARIANTS], epochs=True)
    p.add_argument("--no-counts", action="store_true", help="skip popularity and Markov-1")
    opts, base = p.parse_known_args(argv)  # anything else is passed to every `ccql train` (e.g. --config FILE)
    out = Path(opts.out or "runs/compare/ccql")
    result = run_selected(main, "ccql", VARIANTS, opts, metrics=METRICS, base_args=base)
    summary = dict(result["summary"])
    data_args = None if opts.no_counts else _data_args(result)
    if not opts.no_counts and data_args is None:
        log.warning("no run folder with a config.yaml left: popularity and Markov-1 skipped")
    if data_args is not None:
        baselines = count_baselines(CCQLDataModule(**data_args))
        for name, metrics in baselines.items():
            summary = {name: {k: {"mean": v, "std": 0.0, "n": 1} for k, v in metrics.items() if k in METRICS},
                       **summary}  # fmt: skip
        result["baselines"] = baselines
    result["summary"] = summary
    save_json(result, out / "results.json")
    (out / "results.md").write_text(format_results(summary, METRICS) + "\n")
    _curves(result, out)
    log.info("comparison:\n%s", format_results(summary, METRICS))
    return result


def _data_args(result: dict) -> dict | None:
    """The data options of the first run with a saved config.yaml (a run resumed from an older partial file may
    have lost its folder), for the counting baselines."""
    configs = [Path(r["run_dir"]) / "config.yaml" for r in result["runs"]]
    found = [c for c in configs if c.is_file()]
    if not found:
        return None
    cfg = yaml.safe_load(found[0].read_text())
    data = dict(cfg["data"])
    keep = set(inspect.signature(CCQLDataModule.__init__).parameters) - {"self", "predict_file", "predict_items"}
    return {k: v for k, v in data.items() if k in keep}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main_compare()
