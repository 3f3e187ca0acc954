"""Learning check on the embedded synthetic data (slow): KAMCL must clearly beat popularity on held-out purchases.

Thresholds come from measured runs (seed 0, hard split, 60 epochs): KAMCL test NDCG@10 ~0.05, popularity 0.017,
random ~0.008 (10 / 600 items, discounted).
"""

import json

import pytest

from kamcl.cli import main
from paperkit.testing import run_cli


@pytest.mark.slow
def test_kamcl_learns_on_synthetic(tmp_path) -> None:
    args = ["train", "--trainer.max_epochs=60", "--trainer.enable_progress_bar=false"]
    run = run_cli(main, args, tmp_path, "kamcl")
    m = json.loads((run / "test_metrics.json").read_text())
    pop = run_cli(main, ["train", "--model.model_name=pop", "--trainer.max_epochs=1"], tmp_path, "kamcl")
    p = json.loads((pop / "test_metrics.json").read_text())
    assert m["test/ndcg@10"] >= 0.035
    assert m["test/ndcg@10"] >= 1.5 * p["test/ndcg@10"]
    assert m["selection/val_ndcg@10"] > 0.03
