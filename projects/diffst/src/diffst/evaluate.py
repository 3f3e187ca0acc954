"""``python -m diffst.evaluate``: the nearest and bicubic baselines on the test split of any data set the
DataModule reads (no training): PCC / SSIM / RMSE / MSE / MAE per gene and patch, averaged, as in ``diffst test``.

Example (real MERFISH transcripts, see the README "Real data")::

    python -m diffst.evaluate --data.root data/diffst_merfish --data.train_samples bento --data.test_samples bento
"""

from __future__ import annotations

import argparse
import json

import torch

from diffst.data import DiffSTDataModule
from diffst.metrics import METRICS, baseline_upsample, per_map_metrics, summarize
from paperkit.errors import run_script
from paperkit.report import markdown_table

__all__ = ["evaluate_baselines", "main"]


def evaluate_baselines(dm: DiffSTDataModule, split: str = "test") -> dict[str, dict[str, float]]:
    """``{"nearest": {metric: mean}, "bicubic": {...}}`` over the patches of ``split``."""
    dm.setup("fit")
    loader = {"test": dm.test_dataloader, "val": dm.val_dataloader, "train": dm.train_dataloader}[split]()
    values: dict[str, dict[str, list[torch.Tensor]]] = {"nearest": {}, "bicubic": {}}
    n = 0
    for batch in loader:
        n += batch["lr"].shape[0]
        for mode in values:
            pred = baseline_upsample(batch["lr"], dm.hparams.hr_size, mode)
            for k, v in per_map_metrics(pred, batch["hr"]).items():
                values[mode].setdefault(k, []).append(v)
    out = {mode: {k: summarize(torch.cat(v[k])) for k in METRICS} for mode, v in values.items()}
    out["patches"] = {"n": float(n)}
    return out


def main(args: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data.root", dest="root", required=True)
    p.add_argument("--data.train_samples", dest="train", nargs="+", required=True)
    p.add_argument("--data.test_samples", dest="test", nargs="+", required=True)
    for name, default in (("genes", 8), ("lr_size", 8), ("hr_size", 32), ("n_tiles", 16), ("tile_size", 8)):
        p.add_argument(f"--data.{name}", dest=name, type=int, default=default)
    p.add_argument("--data.hr_name", dest="hr_name", default=None, help="default HR_ST_<hr_size>")
    o = p.parse_args(args)
    dm = DiffSTDataModule(
        dataset="official_npy",
        root=o.root,
        train_samples=o.train,
        test_samples=o.test,
        hr_name=o.hr_name or f"HR_ST_{o.hr_size}",
        genes=o.genes,
        lr_size=o.lr_size,
        hr_size=o.hr_size,
        n_tiles=o.n_tiles,
        tile_size=o.tile_size,
    )
    res = evaluate_baselines(dm)
    rows = [{"method": m, **v} for m, v in res.items() if m != "patches"]
    print(markdown_table(rows))
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    run_script(main)
