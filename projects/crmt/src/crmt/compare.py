"""``make compare-crmt``: JT vs CRMT (CRMT-JT), CRMT-AT and CRMT-Mix on the synthetic data over 3 seeds.

Paper Sec. 5.2 (Tables 1-2) on the embedded data: clean accuracy, PGD on each modality (worst of CE and CW),
missing-modality accuracy and certified accuracy at radius 0.2, written to ``runs/compare/crmt/results.{json,md}``.
"""

from __future__ import annotations

from pathlib import Path

from crmt.cli import main as crmt_main
from paperkit.compare import compare_arg_parser, run_compare

__all__ = ["METRICS", "VARIANTS", "main"]

_ABL = Path(__file__).resolve().parents[2] / "configs" / "ablations"
VARIANTS = {
    "JT": ["--config", str(_ABL / "jt.yaml")],
    "CRMT": ["--config", str(_ABL / "crmt_jt.yaml")],
    "CRMT-AT": ["--config", str(_ABL / "crmt_at.yaml")],
    "CRMT-Mix": ["--config", str(_ABL / "crmt_mix.yaml")],
}
METRICS = [
    "test/acc",
    "test/pgd_A",
    "test/pgd_B",
    "test/missing_A",
    "test/missing_B",
    "test/cert_0.2",
    "test/median_radius",
    "test/cert_flipped_both",
]
QUICK = [
    "--data.n_train=256",
    "--data.n_val=64",
    "--data.n_test=64",
    "--model.step1_epochs=1",
    "--model.step2_epochs=1",
    "--trainer.max_epochs=2",
    "--model.pgd_steps=2",
    "--trainer.limit_test_batches=1",
]


def main(args: list[str] | None = None) -> dict:
    parser = compare_arg_parser("CRMT vs JT (and CRMT-AT, CRMT-Mix) on the synthetic two-modality data")
    opts = parser.parse_args(args)
    variants = dict(VARIANTS)
    if opts.quick:  # JT has no step 2: keep its epochs consistent
        variants = {k: [*v, *QUICK] for k, v in variants.items()}
        variants["JT"] = [*variants["JT"], "--model.step2_epochs=0", "--trainer.max_epochs=1"]
    return run_compare(crmt_main, "crmt", variants, seeds=opts.seeds, metrics=METRICS, out_dir=opts.out)


if __name__ == "__main__":
    main()
