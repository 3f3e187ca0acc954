"""Learning on the embedded default (slow, ~15 min on a loaded 2-core CPU): CCQL and SASRec, trained with the
shipped configs, beat the counting baselines (Markov-1 on purchases, popularity on clicks) by a margin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ccql.cli import main
from ccql.compare import count_baselines
from ccql.data import CCQLDataModule
from paperkit.configs import config_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _train(folder: Path, seed: int, *extra: str) -> dict[str, float]:
    old = Path.cwd()
    os.chdir(folder)
    try:
        cli = main(["train", "--trainer.enable_progress_bar=false", f"--seed_everything={seed}",
                    "--data.cache_dir=cache", *extra])  # fmt: skip
    finally:
        os.chdir(old)
    run = Path(cli.trainer.log_dir)
    run = run if run.is_absolute() else folder / run
    return json.loads((run / "test_metrics.json").read_text())


def test_ccql_and_sasrec_learn_purchases_beyond_the_counting_baselines(tmp_path: Path) -> None:
    counts = count_baselines(CCQLDataModule(cache_dir=str(tmp_path / "cache")))
    best_count = max(v["test/purchase_hr@10"] for v in counts.values())
    ccql = _train(tmp_path, 0)
    sasrec = _train(tmp_path, 0, "--config", str(config_path("ccql", "methods/sasrec.yaml")))
    for res in (ccql, sasrec):
        assert res["test/purchase_hr@10"] > best_count + 0.05
        assert res["test/click_hr@10"] > counts["Popularity"]["test/click_hr@10"] + 0.1
