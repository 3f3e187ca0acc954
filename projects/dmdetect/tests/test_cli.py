"""CLI paths specific to this project: a folder run with robustness test sets, predict on users' images, exact
resume, and the refusal to predict on images with a synthetic-feature model."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dmdetect.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

from .helpers import write_folder


def test_folder_train_robustness_and_predict(tmp_path) -> None:
    root = write_folder(tmp_path / "d", n_real=12, gens={"a": 6, "b": 6})
    data = [f"--data.root={root}", "--data.dataset=folder", "--data.batch_size=8", "--model.hidden=16",
            "--data.robustness=[jpeg:50, noise:0.1]", f"--data.cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    run = run_cli(main, ["train", *data, *tiny_trainer_args()], tmp_path, "dmdetect")
    metrics = json.loads((run / "test_metrics.json").read_text())
    for key in ("test/auc", "test/ap", "test/acc", "test/real_recall", "test/fake_recall", "test/balanced_acc",
                "test/auc_jpeg_50", "test/auc_noise_0.1"):  # fmt: skip
        assert key in metrics, sorted(metrics)
    assert any(k.startswith("test/auc_gen_") for k in metrics)
    assert (run / "roc.png").is_file() and (run / "test_sets.csv").is_file()
    ckpt = run / "checkpoints" / "last.ckpt"
    pred = run_cli(main, ["predict", "--config", str(run / "config.yaml"), f"--ckpt_path={ckpt}",
                          f"--data.predict_path={root / 'fake'}", "--trainer.enable_progress_bar=false"],
                   tmp_path, "dmdetect")  # fmt: skip
    with open(pred / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and all(0.0 <= float(r["prob_fake"]) <= 1.0 for r in rows)
    assert {r["id"] for r in rows} == {str(p) for p in (root / "fake").rglob("*.png")}


def test_predict_with_a_synthetic_model_refuses_images(tmp_path, capsys) -> None:
    run = run_cli(main, ["fit", "--model.hidden=16", "--data.synthetic_records=40", *tiny_trainer_args()], tmp_path,
                  "dmdetect")  # fmt: skip
    img = write_folder(tmp_path / "d", n_real=1, gens={"a": 1}) / "real" / "r0.png"
    with pytest.raises(SystemExit) as exc:
        main(["predict", f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}", f"--data.predict_path={img}"])
    assert exc.value.code == 2 and "synthetic" in capsys.readouterr().err


def test_fit_resumed_with_ckpt_path_last_matches_an_uninterrupted_run(tmp_path) -> None:
    common = ["--model.hidden=16", "--data.synthetic_records=60", "--data.synthetic_val_records=20",
              "--data.batch_size=64", "--model.lr_t_max=2", "--trainer.enable_progress_bar=false",
              "--trainer.enable_model_summary=false", "--trainer.num_sanity_val_steps=0"]  # fmt: skip
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = run_cli(main, ["fit", *common, "--trainer.max_epochs=3"], tmp_path / "a", "dmdetect")
    run_cli(main, ["fit", *common, "--trainer.max_epochs=2"], tmp_path / "b", "dmdetect")
    resumed = run_cli(main, ["fit", *common, "--trainer.max_epochs=3", "--ckpt_path=last"], tmp_path / "b", "dmdetect")
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 2
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, rtol=0, atol=0, msg=k)
