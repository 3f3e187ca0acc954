"""``make compare-sami``: SAMI on the embedded toy setting over 3 seeds; every run reports the base model (its MI
estimate, ``test/mi_base``) and the SAMI model after one iteration (``test/mi``, ``test/win_rate`` against the base).

Variants: mean (paper) vs sum length normalisation, the official no-EOS training, the KL regulariser, LoRA. The
iteration comparison (restart vs continue, 3 iterations) is ``sami iterate --mode restart|continue``
(``--iterations``), written to ``runs/sami_iterate/``; ``--iterate`` here runs both for every seed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from paperkit.compare import Variant, compare_arg_parser, run_selected
from paperkit.errors import run_script
from paperkit.report import save_json
from sami.cli import main as sami_main

__all__ = ["METRICS", "VARIANTS", "main"]

METRICS = ["test/mi_base", "test/mi", "test/mi_gain", "test/win_rate", "test/len_base", "test/len_sami"]
VARIANTS = [
    Variant("SAMI (mean, paper)"),
    Variant("SAMI (sum)", ("ablations/sum_norm.yaml",)),
    Variant("SAMI (no EOS, official)", ("ablations/no_eos.yaml",)),
    Variant("SAMI + KL 0.5", ("ablations/kl.yaml",)),
    Variant("SAMI LoRA r=8", ("ablations/lora.yaml",)),
    Variant("SAMI, all 4 constitutions per query", ("ablations/all_constitutions.yaml",)),
]


def main(args: list[str] | None = None) -> dict:
    p = compare_arg_parser(__doc__.splitlines()[0], [v.name for v in VARIANTS])
    p.add_argument("--iterate", action="store_true", help="also 3 iterations, restart vs continue, per seed")
    p.add_argument("--iterate_config", action="append", default=[],
                   help="extra config file(s) for the iterate runs, e.g. projects/sami/configs/ablations/"
                   "all_constitutions.yaml")  # fmt: skip
    opts = p.parse_args(args)
    missing = [c for c in opts.iterate_config if not Path(c).is_file()]
    if missing:  # before any run: the iterate part comes last
        p.error(f"--iterate_config: no such file {missing[0]} (a YAML config, e.g. "
                "projects/sami/configs/ablations/all_constitutions.yaml)")  # fmt: skip
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = ["--trainer.enable_progress_bar=false", "--torch_threads=1"]
    out = run_selected(sami_main, "sami", VARIANTS, opts, METRICS, base)
    if opts.iterate:
        rows = {}
        extra = [a for c in opts.iterate_config for a in ("--config", c)]
        for mode in ("restart", "continue"):
            for seed in opts.seeds:
                res = sami_main(
                    ["iterate", "--iterations=3", f"--mode={mode}", *base, *extra, f"--seed_everything={seed}"]
                )
                rows[f"{mode}/{seed}"] = res["iterations"]
                save_json(rows, f"{opts.out or 'runs/compare/sami'}/iterate.json")  # after every run
        out["iterate"] = rows
    print(out.get("summary"))
    return out


if __name__ == "__main__":
    run_script(main)
