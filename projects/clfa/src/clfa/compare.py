"""``make compare-clfa``: CLFA vs. its no-alignment ablation (α = 0) and the co-attention aggregator, 3 seeds.

Runs on the embedded synthetic task (paper Sec. 4.4 ablations: "nocontrast" and "different aggregating methods"):

* ``clfa``: cross-attention encoder, α = 1 (the method);
* ``no_alignment``: cross-attention encoder, α = 0 (CE only);
* ``coattention``: co-attention aggregator, α = 1;
* ``coattention_no_alignment``: co-attention aggregator, α = 0;
* ``coattention_lu2016``: co-attention in the form of Lu et al. (2016) (tanh, dropout, bias), α = 1.

Writes ``runs/compare/clfa/results.{json,md}`` (mean ± std over seeds). ``--variants`` picks a subset.
"""

from __future__ import annotations

from pathlib import Path

from clfa.cli import main as clfa_main
from paperkit.compare import Variant, compare_arg_parser, run_selected
from paperkit.errors import run_script

__all__ = ["METRICS", "VARIANTS", "main"]

VARIANTS = [
    Variant("clfa"),
    Variant("no_alignment", ("ablations/no_alignment.yaml",)),
    Variant("coattention", ("ablations/coattention.yaml",)),
    Variant("coattention_no_alignment", ("ablations/coattention.yaml", "ablations/no_alignment.yaml")),
    Variant("coattention_lu2016", ("ablations/coattention.yaml", "ablations/coattention_lu2016.yaml")),
]
METRICS = ["test/acc", "test/f1", "test/macro_f1"]


def main(args: list[str] | None = None) -> dict:
    p = compare_arg_parser(__doc__.splitlines()[0], [v.name for v in VARIANTS])
    opts = p.parse_args(args)
    result = run_selected(clfa_main, "clfa", VARIANTS, opts, METRICS)
    print((Path(opts.out or "runs/compare/clfa") / "results.md").read_text())
    return result


if __name__ == "__main__":
    run_script(main)
