"""``make compare-customdiffusion360``: CustomDiffusion360 vs its ablations on the embedded cube, over seeds.

Each variant is named by its ablation YAML file (``configs/ablations/``) and trained + tested with ``train``; the
table reports the camera-conditioning test (masked ε-MSE with the true vs the 90°-shifted camera at held-out poses,
the win rate over the paired cases), the opacity/mask IoU, the rendered-RGB PSNR and the face-colour accuracy of
samples. Written to ``runs/compare/customdiffusion360/results.{json,md}``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from customdiffusion360.cli import main as cli_main
from paperkit.compare import Variant, compare_arg_parser, run_compare
from paperkit.errors import run_script

__all__ = ["METRICS", "VARIANTS", "main"]

SLUG = "customdiffusion360"
VARIANTS = [
    Variant("CustomDiffusion360"),
    Variant("token only (no FeatureNeRF)", ("ablations/token_only.yaml",)),
    Variant("no rendering losses", ("ablations/no_render_losses.yaml",)),
    Variant("average over views", ("ablations/average_views.yaml",)),
    Variant("official quirks", ("ablations/official_quirks.yaml",)),
]
METRICS = [
    "test/mse_true",
    "test/mse_shifted",
    "test/camera_gain",
    "test/camera_win_rate",
    "test/iou",
    "test/psnr",
    "test/face_acc",
]


def main(args: list[str] | None = None) -> dict:
    names = [v.name for v in VARIANTS]
    opts = compare_arg_parser(__doc__.splitlines()[0], names).parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    variants = [v for v in VARIANTS if v.name in opts.variants]
    base = ["--trainer.enable_progress_bar=false", "--torch_threads=1"]
    result = run_compare(
        cli_main, SLUG, variants, seeds=opts.seeds, metrics=METRICS, base_args=base, out_dir=opts.out, quick=opts.quick
    )
    print(Path(opts.out or f"runs/compare/{SLUG}", "results.md").read_text())
    return result


if __name__ == "__main__":
    run_script(main)
