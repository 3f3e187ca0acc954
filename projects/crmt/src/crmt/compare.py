"""``make compare-crmt``: JT vs CRMT (CRMT-JT), CRMT-AT and CRMT-Mix, and the paper's baselines MMAT (adversarial
training of JT), Mixup (JT on mixup inputs) and MSEFM (JT + MinSim + feature memory, our reading of Tian & Xu 2021),
on the synthetic data over 3 seeds.

MSEFM is evaluated without the PGD-vs-radius curves (``--model.eval_curve=false``: every forward pass runs ISTA on its
feature memory, and the curves would multiply its evaluation time by ~6); every metric of the table and the certified
curves (from the bound, no attack) are unchanged by that switch.

Paper Sec. 5.2 (Tables 1-2) on the embedded data: clean accuracy, PGD on each modality (worst of CE and CW),
missing-modality accuracy and certified accuracy at radius 0.2, written to ``runs/compare/crmt/results.{json,md}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crmt.cli import main as crmt_main
from paperkit.compare import Variant, compare_arg_parser, run_selected
from paperkit.errors import run_script
from paperkit.report import new_figure, save_figure

__all__ = ["CURVE_RADII", "METRICS", "VARIANTS", "certified_curves", "main", "save_certified_figure"]

VARIANTS = [
    Variant("JT", ("ablations/jt.yaml",)),
    Variant("CRMT", ("ablations/crmt_jt.yaml",)),
    Variant("CRMT-AT", ("ablations/crmt_at.yaml",)),
    Variant("CRMT-Mix", ("ablations/crmt_mix.yaml",)),
    Variant("MMAT", ("ablations/mmat.yaml",)),
    Variant("Mixup", ("ablations/mixup.yaml",)),
    Variant("MSEFM", ("ablations/msefm.yaml",), ("--model.eval_curve=false",)),
]
# --quick trains on 256 samples: MSEFM's memory (1024 training features) must fit in them
QUICK_ARGS = {"MSEFM": ("--model.memory_size=64",)}
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
CURVE_RADII = (0.1, 0.2, 0.3, 0.5, 1.0)
BOUNDS = {"triangle_": "per-class bound (Eq. 10 form)", "pairwise_": "pairwise bound (tight JT form)"}


def certified_curves(result: dict[str, Any]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``{bound: {variant: [(mean, std) per radius of CURVE_RADII]}}`` from a ``run_selected`` result."""
    summary = result["summary"]
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for kind in BOUNDS:
        out[kind] = {}
        for name, metrics in summary.items():
            keys = [f"test/cert_{kind}{r:g}" for r in CURVE_RADII]
            if all(k in metrics for k in keys):
                out[kind][name] = [(metrics[k]["mean"], metrics[k].get("std", 0.0)) for k in keys]
    return out


def save_certified_figure(result: dict[str, Any], path: str | Path) -> Path:
    """Certified accuracy against the ℓ2 radius, one panel per bound, every variant (mean ± std over seeds)."""
    curves = certified_curves(result)
    fig = new_figure(10.0, 3.8)
    axes = fig.subplots(1, len(BOUNDS), sharey=True)
    for ax, (kind, title) in zip(axes, BOUNDS.items()):
        for name, pts in curves[kind].items():
            mean = [m for m, _ in pts]
            std = [s for _, s in pts]
            ax.errorbar(CURVE_RADII, mean, yerr=std, marker="o", capsize=3, label=name)
        ax.set_title(title)
        ax.set_xlabel("ℓ2 radius (both modalities)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("certified accuracy")
    axes[0].legend()
    return save_figure(fig, path)


def main(args: list[str] | None = None) -> dict:
    parser = compare_arg_parser("CRMT vs JT (and CRMT-AT, CRMT-Mix, MMAT, Mixup, MSEFM) on the synthetic data",
                                [v.name for v in VARIANTS])  # fmt: skip
    parser.add_argument("--figure-only", action="store_true",
                        help="redraw certified_vs_radius.png from <out>/results.json, run nothing")  # fmt: skip
    opts = parser.parse_args(args)
    out = Path(opts.out or "runs/compare/crmt")
    if opts.figure_only:
        if not (out / "results.json").is_file():
            parser.error(f"--figure-only needs {out / 'results.json'}: run `python -m crmt.compare` (same --out) first")
        result = json.loads((out / "results.json").read_text())
        save_certified_figure(result, out / "certified_vs_radius.png")
        return result
    variants = [Variant(v.name, v.configs, (*v.args, *QUICK_ARGS.get(v.name, ()))) if opts.quick else v
                for v in VARIANTS]  # fmt: skip
    result = run_selected(crmt_main, "crmt", variants, opts, METRICS)
    save_certified_figure(result, out / "certified_vs_radius.png")
    return result


if __name__ == "__main__":
    run_script(main)
