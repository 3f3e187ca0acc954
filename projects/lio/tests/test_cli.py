"""CLI: train -> metrics, masks figure, split file; predict on a folder -> top-5 CSV; export holds no LIO parameter;
exact resume; errors (print_config and the tiny fit are root contract tests)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lio.cli import main
from lio.export import load_exported
from paperkit.testing import run_cli, tiny_trainer_args


def test_train_writes_paper_metrics_diagnostics_figure_and_split(tmp_path: Path, small: list[str]) -> None:
    run = run_cli(main, ["train", *tiny_trainer_args(), *small], tmp_path, "lio")
    metrics = json.loads((run / "test_metrics.json").read_text())
    for key in ("test/acc", "test/acc_per_class", "test/mask_iou", "test/mask_area", "test/scl_dist_pearson"):
        assert key in metrics, sorted(metrics)
    assert 0.0 <= metrics["test/mask_iou"] <= 1.0 and 0.0 < metrics["test/mask_area"] < 1.0
    assert (run / "masks.png").stat().st_size > 2000
    split = json.loads((run / "split.json").read_text())
    assert split["dataset"] == "synthetic" and len(split["val"]) == 20  # 20 % of 8 per class x 10 classes
    assert (run / "per_class_accuracy.csv").is_file()


def test_predict_on_a_folder_writes_top5_and_export_has_no_lio_parameter(tmp_path: Path, small: list[str]) -> None:
    run = run_cli(main, ["fit", *tiny_trainer_args(), *small], tmp_path, "lio")
    ckpt = run / "checkpoints" / "last.ckpt"
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(folder / f"bird_{i}.jpg")
    pred = run_cli(main, ["predict", *small, f"--ckpt_path={ckpt}", f"--data.predict_path={folder}",
                          "--trainer.enable_progress_bar=false"], tmp_path, "lio")  # fmt: skip
    rows = list(csv.DictReader((pred / "predictions.csv").read_text().splitlines()))
    assert [Path(r["file"]).name for r in rows] == ["bird_0.jpg", "bird_1.jpg", "bird_2.jpg"]
    assert list(rows[0])[:4] == ["id", "file", "top1_class", "top1_prob"] and "top5_prob" in rows[0]
    for r in rows:
        probs = [float(r[f"top{k}_prob"]) for k in range(1, 6)]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-5

    out = tmp_path / "inference.pt"
    assert main(["export", f"--ckpt_path={ckpt}", f"--out={out}"]) == 0
    net, names = load_exported(out)
    assert names[0] == "arrangement_0"
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    lio_keys = [k for k in state if k.startswith("model.heads.")]
    assert lio_keys, "the training checkpoint holds the LIO heads"
    exported = set(net.state_dict())
    assert exported == {k.removeprefix("model.net.") for k in state if k.startswith("model.net.")}
    x = torch.randn(2, 3, 64, 64)
    from lio.module import LIOModule

    module = LIOModule.load_from_checkpoint(ckpt, weights_only=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), module(x))


def test_resume_from_last_checkpoint_is_exact(tmp_path: Path, small: list[str]) -> None:
    """fit 2 epochs == fit interrupted after epoch 1 (``max_steps``, same ``max_epochs``: the cosine schedule depends
    on it), then `fit --ckpt_path last`: identical weights (sampler, warm-up ramp and LR schedule resume exactly)."""
    common = [*tiny_trainer_args(trainer__limit_train_batches=3), *small, "--model.warmup_epochs=1"]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    full = run_cli(main, ["fit", *common, "--trainer.max_epochs=2"], tmp_path / "a", "lio")
    run_cli(main, ["fit", *common, "--trainer.max_epochs=2", "--trainer.max_steps=3"], tmp_path / "b", "lio")
    resumed = run_cli(main, ["fit", *common, "--trainer.max_epochs=2", "--ckpt_path=last"], tmp_path / "b", "lio")
    assert resumed.name == "version_0"
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["epoch"] == b["epoch"] and a["global_step"] == b["global_step"] == 6
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_real_format_data_through_the_cli(tmp_path: Path, fmt) -> None:
    root = fmt.cub(tmp_path / "cub", n_classes=3, per_class=8)
    data = [f"--data.root={root}", "--data.dataset=cub", "--data.anchors_per_batch=2", "--data.resize_size=40",
            "--data.image_size=32", "--data.val_fraction=0.25", "--data.eval_batch_size=4"]  # fmt: skip
    run = run_cli(main, ["train", *tiny_trainer_args(), *data], tmp_path, "lio")
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert "test/acc" in metrics and "test/mask_iou" in metrics  # CUB segmentations give the mask IoU


def test_missing_data_is_one_paragraph_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, ["fit", "--data.dataset=cub", "--data.root=nowhere", *tiny_trainer_args()], tmp_path)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "images.txt" in err and "vision.caltech.edu" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_:
        main(["export", f"--ckpt_path={tmp_path / 'nope.ckpt'}"])
    assert exit_.value.code == 2 and "nope.ckpt" in capsys.readouterr().err
