"""``make compare-crmt``: JT vs CRMT (CRMT-JT), CRMT-AT and CRMT-Mix on the synthetic data over 3 seeds.

Paper Sec. 5.2 (Tables 1-2) on the embedded data: clean accuracy, PGD on each modality (worst of CE and CW),
missing-modality accuracy and certified accuracy at radius 0.2, written to ``runs/compare/crmt/results.{json,md}``.
"""

from __future__ import annotations

from crmt.cli import main as crmt_main
from paperkit.compare import Variant, compare_arg_parser, run_compare

__all__ = ["METRICS", "VARIANTS", "main"]

VARIANTS = [
    Variant("JT", ("ablations/jt.yaml",)),
    Variant("CRMT", ("ablations/crmt_jt.yaml",)),
    Variant("CRMT-AT", ("ablations/crmt_at.yaml",)),
    Variant("CRMT-Mix", ("ablations/crmt_mix.yaml",)),
]
METRICS = [
    "test/acc",
    "test/pgd_A",
    "test/pgd_B",
    "test/missing_A",
    "test/missing_B",
    "test/cert_0.2",
    "test/median_radius",
    "test/cert_flipped_both",
    # certified accuracy against the radius, under each bound (the figure `python -m crmt.compare --figure`)
    *(f"test/cert_{kind}{r}" for kind in ("", "triangle_", "pairwise_") for r in ("0.1", "0.2", "0.3", "0.5", "1")),
]


def main(args: list[str] | None = None) -> dict:
    parser = compare_arg_parser("CRMT vs JT (and CRMT-AT, CRMT-Mix) on the synthetic two-modality data",
                                [v.name for v in VARIANTS])  # fmt: skip
    opts = parser.parse_args(args)
    variants = [v for v in VARIANTS if v.name in opts.variants]
    return run_compare(crmt_main, "crmt", variants, seeds=opts.seeds, metrics=METRICS, out_dir=opts.out,
                       quick=opts.quick)  # fmt: skip


if __name__ == "__main__":
    main()
