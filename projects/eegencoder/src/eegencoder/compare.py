"""``make compare-eegencoder``: EEGEncoder vs its TCN-only ablation vs braindecode EEGNet and ATCNet.

Every variant (named by its ablation YAML file) is trained and tested (``eegencoder train``) on the same synthetic
T/E sessions (the data seed is fixed, ``--data.synthetic_seed``) for each training seed; the table reports E-session
accuracy, Cohen's kappa and the wall time of train + test. Written to ``runs/compare/eegencoder/results.{json,md}``.
``--variants`` runs a subset (e.g. to split the table over several processes).
"""

from __future__ import annotations

import logging
from pathlib import Path

from eegencoder.cli import main as cli_main
from paperkit.compare import Variant, compare_arg_parser, run_compare

__all__ = ["METRICS", "VARIANTS", "main"]

VARIANTS = [
    Variant("EEGEncoder"),
    Variant("EEGEncoder w/o transformer", ("ablations/no_transformer.yaml",)),
    Variant("EEGNet (braindecode)", ("ablations/eegnet.yaml",)),
    Variant("ATCNet (braindecode)", ("ablations/atcnet.yaml",)),
]
METRICS = ["test/acc", "test/kappa"]


def main(args: list[str] | None = None) -> dict:
    parser = compare_arg_parser(__doc__.splitlines()[0], [v.name for v in VARIANTS])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs of default.yaml")
    opts = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = ["--trainer.enable_progress_bar=false"]
    if opts.epochs is not None:
        base.append(f"--trainer.max_epochs={opts.epochs}")
    variants = [v for v in VARIANTS if v.name in opts.variants]
    result = run_compare(cli_main, "eegencoder", variants, seeds=opts.seeds, metrics=METRICS, base_args=base,
                         out_dir=opts.out, quick=opts.quick)  # fmt: skip
    print(Path(opts.out or "runs/compare/eegencoder", "results.md").read_text())
    return result


if __name__ == "__main__":
    main()
