"""``make compare-eegencoder``: EEGEncoder vs its TCN-only ablation vs braindecode EEGNet and ATCNet.

Every variant is trained and tested (``eegencoder train``) on the same synthetic T/E sessions (the data seed is fixed,
``--data.synthetic_seed``) for each training seed; the table reports E-session accuracy, Cohen's kappa and the wall
time of train + test. Written to ``runs/compare/eegencoder/results.{json,md}``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eegencoder.cli import main as cli_main
from paperkit.compare import compare_arg_parser, run_compare
from paperkit.testing import tiny_trainer_args

__all__ = ["VARIANTS", "main"]

VARIANTS: dict[str, list[str]] = {
    "EEGEncoder": ["--model.arch=eegencoder"],
    "EEGEncoder w/o transformer": ["--model.arch=eegencoder_no_transformer"],
    "EEGNet (braindecode)": ["--model.arch=eegnet"],
    "ATCNet (braindecode)": ["--model.arch=atcnet"],
}
METRICS = ["test/acc", "test/kappa"]


def main(args: list[str] | None = None) -> dict:
    parser = compare_arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs of default.yaml")
    parser.add_argument(
        "--archs",
        nargs="+",
        default=None,
        help="run only these --model.arch values (e.g. to split the table over several processes)",
    )
    opts = parser.parse_args(args)
    variants = VARIANTS
    if opts.archs:
        variants = {k: v for k, v in VARIANTS.items() if v[0].split("=", 1)[1] in opts.archs}
        if not variants:
            parser.error(f"--archs {opts.archs}: none of {[v[0].split('=', 1)[1] for v in VARIANTS.values()]}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = ["--trainer.enable_progress_bar=false"]
    if opts.epochs is not None:
        base.append(f"--trainer.max_epochs={opts.epochs}")
    if opts.quick:
        base += [*tiny_trainer_args(), "--data.synthetic_trials_per_class=8", "--data.batch_size=8"]
    result = run_compare(
        cli_main, "eegencoder", variants, seeds=opts.seeds, metrics=METRICS, base_args=base, out_dir=opts.out
    )
    print(Path(opts.out or "runs/compare/eegencoder", "results.md").read_text())
    return result


if __name__ == "__main__":
    main()
