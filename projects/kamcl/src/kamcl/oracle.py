"""``python -m kamcl.oracle``: what a perfect model could reach on the synthetic data, with and without each attribute.

Ranks every item by the generator's *noise-free* buy utility (its ground truth, never seen by a model) under the same
protocol as training runs (full ranking, training purchases and the validation item masked, pessimistic ties) and
reports test NDCG@10 / HR@10 for the full utility and for utilities restricted to some attributes.

It is a reference point, **not a ceiling**: the buy utility ignores the generator's view -> cart -> buy funnel and each
user's own training views and carts, so rankers that push those items down, or that simulate the funnel, can score
above it; and the fraction a perfect ranker loses without an attribute does not bound what an imperfect model loses
(so it says nothing about the limit of the "shuffle the price triples" control).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from kamcl.data import KAMCLDataModule
from kamcl.datasets.synthetic import SYNTHETIC_RELATIONS, generate, oracle_utility
from kamcl.metrics import full_ranking_ranks, metrics_from_ranks
from paperkit.errors import run_script
from paperkit.report import markdown_table, save_json

__all__ = ["ORACLES", "evaluate_scores", "main", "oracle_table"]

NO_PRICE = [r for r in SYNTHETIC_RELATIONS if r != "price_bucket"]
ORACLES: dict[str, dict] = {
    "buy utility (all attributes + popularity)": {"relations": None, "pop": True},
    "without price (brand, category, rating + popularity)": {"relations": NO_PRICE, "pop": True},
    "price + popularity only": {"relations": ["price_bucket"], "pop": True},
    "popularity term only": {"relations": [], "pop": True},
    "view utility (all attributes + popularity)": {"relations": None, "pop": True, "behaviour": "view"},
}


def evaluate_scores(dm: KAMCLDataModule, scores: np.ndarray, stage: str = "test", ks=(10, 20)) -> dict[str, float]:
    """Full-ranking metrics of a (U, I) score matrix with exactly the masks and held-out items the module uses."""
    d = dm.data
    held = d.test_items if stage == "test" else d.val_items
    users = np.nonzero(held >= 0)[0]
    mask = dm.mask_for(stage)[users].tocoo()
    ranks = full_ranking_ranks(
        torch.from_numpy(scores[users]).double(),
        torch.from_numpy(held[users]).long(),
        torch.from_numpy(mask.row).long(),
        torch.from_numpy(mask.col).long(),
    )
    return {f"{stage}/{k}": float(v.mean()) for k, v in metrics_from_ranks(ranks, list(ks)).items()}


def oracle_table(
    hard_split: bool = True, root: str | None = None, n_users: int = 1000, n_items: int = 600
) -> list[dict]:
    """One row per entry of ``ORACLES`` on the default synthetic data (written to ``root`` if not there yet)."""
    dm = KAMCLDataModule(
        dataset="synthetic", hard_split=hard_split, root=root, synthetic_users=n_users, synthetic_items=n_items
    )
    out = generate(dm.synthetic_cfg)
    rows = []
    for name, spec in ORACLES.items():
        spec = dict(spec)
        scores = oracle_utility(out, dm.synthetic_cfg, behaviour=spec.pop("behaviour", "buy"), **spec)
        m = evaluate_scores(dm, scores)
        rows.append({"oracle": name, **{k: m[k] for k in ("test/ndcg@10", "test/hr@10", "test/ndcg@20")}})
    return rows


def main(args: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=["hard", "plain"], default="hard")
    p.add_argument("--root", default=None, help="synthetic data folder (default data/kamcl/synthetic[_plain])")
    p.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    a = p.parse_args(args)
    rows = oracle_table(a.split == "hard", a.root)
    md = f"Oracle rankings, synthetic {a.split} split (full ranking, noise-free ground-truth utility):\n\n"
    md += markdown_table(rows)
    print(md)
    if a.out:
        save_json({"split": a.split, "rows": rows}, Path(a.out).with_suffix(".json"))
        Path(a.out).with_suffix(".md").write_text(md + "\n")
    return rows


if __name__ == "__main__":
    run_script(main)
