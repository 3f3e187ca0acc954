"""Learning check on the embedded synthetic data (slow: six default runs, CRMT and JT on seeds 0, 1, 2).

The spec's acceptance thresholds on the mean of 3 seeds (README, "Comparison on the synthetic data"): CRMT − JT
≥ +0.10 on PGD against the preferred modality A and on missing-A accuracy, JT missing-A ≤ 0.70 (JT shows the
modality preference), PGD on B ≥ 0.9 for both, clean accuracy within 2 points, certified accuracy at r = 0.2
CRMT − JT ≥ +0.10 under the same per-class bound (Eq. 10 form), and no certified sample flipped by PGD. Under the tight
pairwise bound the measured gap is +0.031, so the +0.10 threshold is not met there: the README lists threshold, value
and reason, and this test checks only the measured direction (CRMT above JT) for that bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crmt.cli import main
from paperkit.testing import run_cli

PROJECT = Path(__file__).resolve().parents[1]


def _mean_metrics(tmp_path: Path, extra: list[str]) -> dict[str, float]:
    runs = []
    for seed in (0, 1, 2):
        args = ["train", *extra, "--trainer.enable_progress_bar=false", f"--seed_everything={seed}",
                "--model.eval_curve=false"]  # fmt: skip
        run = run_cli(main, args, tmp_path, "crmt")
        runs.append(json.loads((run / "test_metrics.json").read_text()))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_crmt_beats_jt_on_the_preferred_modality_over_three_seeds(tmp_path):
    crmt = _mean_metrics(tmp_path, [])
    jt = _mean_metrics(tmp_path, ["--config", str(PROJECT / "configs/ablations/jt.yaml")])
    assert crmt["test/acc"] >= jt["test/acc"] - 0.02
    assert crmt["test/pgd_A"] >= jt["test/pgd_A"] + 0.10
    assert crmt["test/missing_A"] >= jt["test/missing_A"] + 0.10
    assert jt["test/missing_A"] <= 0.70
    assert crmt["test/pgd_B"] >= 0.9 and jt["test/pgd_B"] >= 0.9
    assert crmt["test/cert_triangle_0.2"] >= jt["test/cert_triangle_0.2"] + 0.10  # the same per-class bound
    assert crmt["test/cert_pairwise_0.2"] > jt["test/cert_pairwise_0.2"]  # the same tight bound: direction only
    for m in (crmt, jt):
        assert m["test/cert_flipped_both"] == 0.0
