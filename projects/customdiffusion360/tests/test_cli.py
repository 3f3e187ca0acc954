"""CLI: train -> test metrics, the sample grid and the delta file; predict on a user's target cameras; `sample`
from the delta file; exact resume; errors as one paragraph with exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from cd360_fixtures import fast_cli_args

from customdiffusion360.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

SLUG = "customdiffusion360"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, shared_dirs) -> Path:
    data, base = shared_dirs
    fast = fast_cli_args(data, base)
    cwd = tmp_path_factory.mktemp("train")
    # `--trainer.limit_test_batches=1` parses as 1.0 (all batches): fractions select one batch of the 4
    tiny = tiny_trainer_args(trainer__limit_val_batches=0.25, trainer__limit_test_batches=0.25)
    return run_cli(main, ["train", *tiny, *fast], cwd, SLUG)


def test_train_writes_metrics_samples_and_the_delta(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "test_metrics.json").read_text())
    for key in (
        "test/mse_true",
        "test/mse_shifted",
        "test/camera_win_rate",
        "test/iou",
        "test/psnr",
        "test/face_acc",
        "test/camera_cases",
    ):
        assert key in metrics, metrics
    assert metrics["test/camera_cases"] == 2  # 2 views x 1 draw with the fast arguments
    assert (trained_run / "samples_azimuth.png").stat().st_size > 1000
    delta = trained_run / "delta.safetensors"
    assert 0 < delta.stat().st_size < 1_000_000


def test_predict_on_target_cameras_writes_images_and_a_csv(
    trained_run: Path, fast_args: list[str], tmp_path: Path
) -> None:
    targets = tmp_path / "targets.json"
    targets.write_text(
        json.dumps({"prompt": "photo of a <new1> cube", "targets": [{"azimuth": a} for a in (0, 90, 200)]})
    )
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    run = run_cli(
        main,
        [
            "predict",
            f"--ckpt_path={ckpt}",
            f"--data.predict_file={targets}",
            *fast_args,
            "--trainer.enable_progress_bar=false",
        ],
        tmp_path,
        SLUG,
    )
    rows = list(csv.DictReader((run / "predictions.csv").read_text().splitlines()))
    assert [float(r["azimuth"]) for r in rows] == [0.0, 90.0, 200.0]
    assert all(Path(r["image"]).is_file() for r in rows)


def test_sample_command_loads_the_delta_onto_its_base(trained_run: Path, tmp_path: Path) -> None:
    from customdiffusion360.sample import main as sample_main

    rc = sample_main(
        [
            "--delta",
            str(trained_run / "delta.safetensors"),
            "--prompt",
            "photo of a <new1> cube",
            "--azimuths",
            "0",
            "120",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    assert rc == 0
    files = sorted((tmp_path / "runs" / SLUG).glob("version_*/samples/*.png"))
    assert len(files) == 2
    assert sample_main(["--delta", str(tmp_path / "missing.safetensors"), "--prompt", "x"]) == 2


def test_resume_from_last_checkpoint_is_exact(tmp_path: Path, fast_args: list[str]) -> None:
    """fit 2 epochs == fit 1 epoch, then `fit --ckpt_path last` to 2 epochs: identical weights."""
    common = [
        *tiny_trainer_args(trainer__limit_train_batches=2, trainer__limit_val_batches=0.25),
        *fast_args,
        "--data.train_samples=4",
    ]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    full = run_cli(main, ["fit", *common, "--trainer.max_epochs=2"], tmp_path / "a", SLUG)
    run_cli(main, ["fit", *common, "--trainer.max_epochs=1"], tmp_path / "b", SLUG)
    resumed = run_cli(main, ["fit", *common, "--trainer.max_epochs=2", "--ckpt_path=last"], tmp_path / "b", SLUG)
    assert resumed.name == "version_0"
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 4
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_missing_co3d_is_one_paragraph_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_cli(
            main,
            ["fit", "--data.dataset=co3d", "--data.root=nowhere", "--data.category=teddybear", *tiny_trainer_args()],
            tmp_path,
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "frame_annotations.jgz" in err and "co3d" in err and "Traceback" not in err
