"""CLI tests: train -> per-subject report, predict -> CSV, exact resume, errors (print_config and the tiny fit are root
contract tests)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from eegencoder.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

PROJECT = Path(__file__).resolve().parents[1]
SMALL_DATA = ["--data.synthetic_trials_per_class=8", "--data.batch_size=8", "--model.n_branches=2"]


def test_train_writes_metrics_table_and_confusion_matrix(tmp_path: Path) -> None:
    # the whole test split (both subjects), not the tiny run's first two batches
    args = ["train", *tiny_trainer_args(trainer__limit_test_batches=1.0), *SMALL_DATA, "--data.subjects=[1,2]"]
    run = run_cli(main, args, tmp_path, "eegencoder")
    metrics = json.loads((run / "test_metrics.json").read_text())
    for key in ("test/acc", "test/kappa", "test/acc_mean_subjects", "test/kappa_mean_subjects"):
        assert key in metrics
    rows = list(csv.DictReader((run / "per_subject.csv").read_text().splitlines()))
    assert [r["subject"] for r in rows] == ["1", "2", "mean"]
    assert (run / "per_subject.md").is_file() and (run / "confusion_matrix.png").stat().st_size > 1000


def test_predict_on_a_recording_writes_probabilities(tmp_path: Path, bnci_root) -> None:
    root, content = bnci_root
    data = ["--data.dataset=bnci2014_001", f"--data.root={root}", "--data.batch_size=4", "--model.n_branches=2"]
    run = run_cli(main, ["fit", *tiny_trainer_args(), *data], tmp_path, "eegencoder")
    ckpt = run / "checkpoints" / "last.ckpt"
    pred_run = run_cli(
        main,
        ["predict", *data, f"--ckpt_path={ckpt}", f"--data.predict_file={root / 'A01E.mat'}"],
        tmp_path,
        "eegencoder",
    )
    rows = list(csv.DictReader((pred_run / "predictions.csv").read_text().splitlines()))
    assert len(rows) == 16
    assert list(rows[0]) == ["id", "label", "predicted", "p_left_hand", "p_right_hand", "p_feet", "p_tongue"]
    for r in rows:
        assert abs(sum(float(r[f"p_{c}"]) for c in ("left_hand", "right_hand", "feet", "tongue")) - 1) < 1e-4
    assert [int(r["label"]) for r in rows] == [int(v) for s in content["E"] for v in s.y]


def test_predict_on_unlabeled_recordings_writes_label_minus_one(tmp_path: Path, bnci_root, fixtures_io) -> None:
    """A BNCI file without ``y`` and a competition E session (cue 783) without its labels file: rows with label -1."""
    root, content = bnci_root
    data = ["--data.dataset=bnci2014_001", f"--data.root={root}", "--data.batch_size=4", "--model.n_branches=2"]
    run = run_cli(main, ["fit", *tiny_trainer_args(), *data], tmp_path, "eegencoder")
    ckpt = run / "checkpoints" / "last.ckpt"
    user = tmp_path / "user"
    mat = fixtures_io.write_bnci_mat(user / "mine.mat", content["E"], with_labels=False)
    gdf = fixtures_io.write_competition_gdf(user / "A01E.gdf", content["E"][0], with_cues=False)
    for path, n in ((mat, 16), (gdf, 8)):
        pred = run_cli(main, ["predict", *data, f"--ckpt_path={ckpt}", f"--data.predict_file={path}"], tmp_path,
                       "eegencoder")  # fmt: skip
        rows = list(csv.DictReader((pred / "predictions.csv").read_text().splitlines()))
        assert len(rows) == n and {r["label"] for r in rows} == {"-1"}, path.name
        assert all(r["predicted"] in ("left_hand", "right_hand", "feet", "tongue") for r in rows)


def test_resume_from_last_checkpoint_is_exact(tmp_path: Path) -> None:
    """fit 2 epochs == fit 1 epoch, then `fit --ckpt_path last` to 2 epochs: identical weights."""
    common = [*tiny_trainer_args(trainer__limit_train_batches=3), *SMALL_DATA]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    full = run_cli(main, ["fit", *common, "--trainer.max_epochs=2"], tmp_path / "a", "eegencoder")
    run_cli(main, ["fit", *common, "--trainer.max_epochs=1"], tmp_path / "b", "eegencoder")
    resumed = run_cli(
        main, ["fit", *common, "--trainer.max_epochs=2", "--ckpt_path=last"], tmp_path / "b", "eegencoder"
    )
    assert resumed.name == "version_0"  # continued in its own folder
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert a["epoch"] == b["epoch"] and a["global_step"] == b["global_step"] == 6
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_missing_data_is_one_paragraph_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, ["fit", "--data.dataset=bnci2014_001", "--data.root=nowhere", *tiny_trainer_args()], tmp_path)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "A01T.mat" in err and "bnci-horizon-2020.eu" in err and "Traceback" not in err
