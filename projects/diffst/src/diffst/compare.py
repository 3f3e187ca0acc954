"""``make compare-diffst``: nearest and bicubic upsampling, a deterministic conditional U-Net with the same
conditioner, Diff-ST, Diff-ST with histology shuffled across patches (and the bare denoiser), 3 training seeds.

Every trained variant (named by its ablation YAML file) is trained and tested (``diffst train``) on the same
synthetic tissue (the data seed is fixed); nearest and bicubic need no training: their test metrics are computed in
every Diff-ST run on the same test patches and reported as their own rows. Written to ``runs/compare/diffst/``.
"""

from __future__ import annotations

import logging

from diffst.cli import main as cli_main
from paperkit.compare import Variant, compare_arg_parser, format_results, run_selected
from paperkit.errors import run_script
from paperkit.report import aggregate_seeds, save_json

__all__ = ["METRICS", "VARIANTS", "main"]

VARIANTS = [
    Variant("Diff-ST"),
    Variant("Diff-ST, shuffled histology", ("ablations/shuffled_histology.yaml",)),
    Variant("bare denoiser (no histology)", ("ablations/bare.yaml",)),
    Variant("conditional U-Net (L1)", ("ablations/regression.yaml",)),
]
METRICS = ["test/pcc", "test/ssim", "test/rmse", "test/mse", "test/mae", "test/lr_consistency_rmse"]
BASELINES = {"bicubic": "test/bicubic_", "nearest": "test/nearest_"}


def main(args: list[str] | None = None) -> dict:
    parser = compare_arg_parser(__doc__.splitlines()[0], [v.name for v in VARIANTS], epochs=True)
    opts = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = ["--trainer.enable_progress_bar=false", "--torch_threads=1"]
    result = run_selected(cli_main, "diffst", VARIANTS, opts, None, base)
    source = [r for r in result["runs"] if r["variant"] == "Diff-ST"] or result["runs"]
    for name, prefix in BASELINES.items():
        rows = [
            {f"test/{k[len(prefix) :]}": v for k, v in r["metrics"].items() if k.startswith(prefix)} for r in source
        ]
        result["summary"][name] = aggregate_seeds(rows)
    keep = {k: {m: s for m, s in v.items() if m in [*METRICS, "time_s"]} for k, v in result["summary"].items()}
    result["summary"] = keep
    out = opts.out or "runs/compare/diffst"
    save_json(result, f"{out}/results.json")
    with open(f"{out}/results.md", "w") as f:
        f.write(format_results(keep, METRICS) + "\n")
    print(format_results(keep, METRICS))
    return result


if __name__ == "__main__":
    run_script(main)
