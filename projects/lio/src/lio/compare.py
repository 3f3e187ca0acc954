"""``make compare-lio``: (a) backbone only, (b) backbone with the same anchor + positive sampler, (c) + OEL, (d) + SCL,
(e) LIO, on the embedded synthetic set, 3 seeds.

Every variant (named by its ablation YAML file) is trained and tested (``lio train``) on the same synthetic data (the
generator seed is fixed, ``--data.synthetic_seed``) for each training seed. (b) is the fair baseline: LIO sees 1 + K
same-class images per anchor, so (b) gets the identical batches without the heads; (a) sees the same number of images
per epoch in plain shuffled batches. The table reports test accuracy, mean per-class accuracy, the OEL mask IoU against
the true object masks (and the object-area fraction), SCL's distance correlation and the wall time of train + test.
Written to ``runs/compare/lio/results.{json,md}``; ``--variants`` runs a subset.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lio.cli import main as cli_main
from paperkit.compare import Variant, compare_arg_parser, run_selected
from paperkit.errors import run_script

__all__ = ["METRICS", "VARIANTS", "main"]

VARIANTS = [
    Variant("(a) backbone only", ("ablations/backbone_only.yaml",)),
    Variant("(b) backbone + LIO sampler", ("ablations/sampler_only.yaml",)),
    Variant("(c) + OEL", ("ablations/oel_only.yaml",)),
    Variant("(d) + SCL", ("ablations/scl_only.yaml",)),
    Variant("(e) LIO"),
]
METRICS = ["test/acc", "test/acc_per_class", "test/mask_iou", "test/mask_area", "test/scl_dist_pearson"]


def main(args: list[str] | None = None) -> dict:
    opts = compare_arg_parser(__doc__.splitlines()[0], [v.name for v in VARIANTS], epochs=True).parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = ["--trainer.enable_progress_bar=false", "--torch_threads=1"]
    result = run_selected(cli_main, "lio", VARIANTS, opts, METRICS, base)
    print(Path(opts.out or "runs/compare/lio", "results.md").read_text())
    return result


if __name__ == "__main__":
    run_script(main)
