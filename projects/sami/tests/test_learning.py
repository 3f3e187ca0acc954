"""The embedded default learns (slow): one SAMI iteration on the toy language raises the conditional-MI estimate of
the policy above the base model's by more than 0.05 nats and wins more than half of the rule judge's comparisons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperkit.testing import run_cli
from sami.cli import main


@pytest.mark.slow
def test_sami_raises_mi_and_wins_against_the_base_model(tmp_path: Path) -> None:
    run = run_cli(main, ["train", "--trainer.enable_progress_bar=false", "--torch_threads=1"], tmp_path, "sami")
    m = json.loads((run / "test_metrics.json").read_text())
    assert m["test/mi"] - m["test/mi_base"] > 0.05, m
    assert m["test/win_rate"] > 0.5, m
