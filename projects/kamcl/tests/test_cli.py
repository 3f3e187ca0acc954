"""CLI tests: fast_dev_run in an empty folder writes the data, train writes test metrics (print_config: root test)."""

import json

from kamcl.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

SMALL = ["--data.synthetic_users=100", "--data.synthetic_items=150", "--model.dim=8"]


def test_fast_dev_run(tmp_path) -> None:
    run_cli(main, ["fit", "--trainer.fast_dev_run=true", *SMALL], tmp_path)
    [folder] = (tmp_path / "data" / "kamcl" / "synthetic").glob("synthetic-*")  # keyed by the generator settings
    assert (folder / "trn_buy").is_file() and (folder / "kg.txt").is_file() and (folder / "settings.json").is_file()


def test_train_writes_both_protocols(tmp_path) -> None:
    run = run_cli(main, ["train", *SMALL, "--model.model_name=lightgcn", *tiny_trainer_args()], tmp_path, "kamcl")
    metrics = json.loads((run / "test_metrics.json").read_text())
    for k in (10, 20, 40):
        for m in ("hr", "recall", "ndcg"):
            assert f"test/{m}@{k}" in metrics and f"test/sampled99_{m}@{k}" in metrics
