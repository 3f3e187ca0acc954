"""``make compare-clfa``: CLFA vs. its no-alignment ablation (α = 0) and the co-attention aggregator, 3 seeds.

Runs on the embedded synthetic task (paper Sec. 4.4 ablations: "nocontrast" and "different aggregating methods"):

* ``clfa``: cross-attention encoder, α = 1 (the method);
* ``no_alignment``: cross-attention encoder, α = 0 (CE only);
* ``coattention``: co-attention aggregator, α = 1;
* ``coattention_no_alignment``: co-attention aggregator, α = 0.

Writes ``runs/compare/clfa/results.{json,md}`` (mean ± std over seeds). ``--variants`` picks a subset.
"""

from __future__ import annotations

from pathlib import Path

from clfa.cli import main as clfa_main
from paperkit.compare import compare_arg_parser, run_compare
from paperkit.testing import tiny_trainer_args

__all__ = ["VARIANTS", "main"]

VARIANTS: dict[str, list[str]] = {
    "clfa": [],
    "no_alignment": ["--model.alpha=0"],
    "coattention": ["--model.aggregator=coattention"],
    "coattention_no_alignment": ["--model.aggregator=coattention", "--model.alpha=0"],
}
METRICS = ["test/acc", "test/f1", "test/macro_f1"]


def main(args: list[str] | None = None) -> dict:
    p = compare_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    opts = p.parse_args(args)
    base: list[str] = []
    if opts.quick:
        base = [*tiny_trainer_args(), "--data.synthetic.n_train=64", "--data.synthetic.n_valid=32",
                "--data.synthetic.n_test=32", "--data.root=data/clfa/synthetic_quick"]  # fmt: skip
    variants = {k: VARIANTS[k] for k in opts.variants}
    result = run_compare(
        lambda a: clfa_main(a), "clfa", variants, seeds=opts.seeds, metrics=METRICS, base_args=base, out_dir=opts.out
    )
    print((Path(opts.out or "runs/compare/clfa") / "results.md").read_text())
    return result


if __name__ == "__main__":
    main()
