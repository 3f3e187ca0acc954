"""Learning threshold on the embedded default (slow): the fused detector reaches ROC-AUC >= 0.98 and beats the same
MLP on the image feature alone by >= 0.10 (the cross-modal consistency the synthetic world encodes)."""

from __future__ import annotations

import json

import pytest

from dmdetect.cli import main
from paperkit.testing import run_cli


@pytest.mark.slow
def test_default_fused_detector_beats_image_only(tmp_path) -> None:
    args = ["train", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    auc = {}
    for inputs in ("fused", "image"):
        (tmp_path / inputs).mkdir()
        run = run_cli(main, [*args, f"--model.inputs={inputs}"], tmp_path / inputs, "dmdetect")
        auc[inputs] = json.loads((run / "test_metrics.json").read_text())["test/auc"]
    assert auc["fused"] >= 0.98, auc
    assert auc["fused"] >= auc["image"] + 0.10, auc
