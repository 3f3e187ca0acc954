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


def _refused(args: list[str], cwd: Path, capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, args, cwd)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err, err[-2000:]
    return " ".join(err.split())


def test_checkpoint_stores_preprocessing_and_predict_refuses_other_options(
    tmp_path: Path, bnci_root, capsys: pytest.CaptureFixture
) -> None:
    """The checkpoint records sampling rate, window, channels and standardisation; predict with other data options is
    a one-paragraph error naming both values, before any weight is loaded; the run's own config works."""
    root, _ = bnci_root
    data = ["--data.dataset=bnci2014_001", f"--data.root={root}", "--data.batch_size=4", "--model.n_branches=2"]
    run = run_cli(main, ["fit", *tiny_trainer_args(), *data], tmp_path, "eegencoder")
    ckpt = run / "checkpoints" / "last.ckpt"
    stored = torch.load(ckpt, weights_only=False)["EEGDataModule"]["preprocessing"]
    assert stored == {"sfreq": 125.0, "window_s": [1.5, 6.0], "n_times": 562, "standardize": "channel",
                      "channels": ["Fz", "FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
                                   "CP3", "CP1", "CPz", "CP2", "CP4", "P1", "Pz", "P2", "POz"]}  # fmt: skip
    base = ["predict", *data, f"--ckpt_path={ckpt}", f"--data.predict_file={root / 'A01E.mat'}"]
    err = _refused([*base, "--data.sfreq=250"], tmp_path, capsys)
    assert "sampling rate (Hz): trained with 125.0, here 250.0" in err and "samples per trial" in err
    err = _refused([*base, "--data.standardize=channel_time"], tmp_path, capsys)
    assert "standardisation: trained with channel, here channel_time" in err and str(ckpt) in err
    err = _refused([*base, "--data.tmax=5.5"], tmp_path, capsys)
    assert "trial window (s after trial start): trained with [1.5, 6.0], here [1.5, 5.5]" in err
    assert not list(tmp_path.rglob("predictions.csv"))
    # the run's own config reproduces the training options
    pred = run_cli(main, ["predict", "--config", str(run / "config.yaml"), f"--ckpt_path={ckpt}",
                          f"--data.predict_file={root / 'A01E.mat'}"], tmp_path, "eegencoder")  # fmt: skip
    assert len((pred / "predictions.csv").read_text().splitlines()) == 1 + 16


def test_predict_refuses_a_recording_of_other_channels_or_length(
    tmp_path: Path, ts_root, ts_writer, fixtures_io, capsys: pytest.CaptureFixture
) -> None:
    """A model trained on 4 named channels x 30 samples (.ts) predicts on a matching .ts file, and refuses a file of
    other channels (a 22-channel BNCI session, a 5-channel .ts) or another trial length, naming both."""
    root, content = ts_root
    data = ["--data.dataset=ts", f"--data.root={root}", "--data.ts_name=Fix", "--data.batch_size=4"]
    model = ["--model.kernel_1=5", "--model.kernel_2=3", "--model.pool_1=2", "--model.pool_2=1", "--model.n_branches=2"]
    run = run_cli(main, ["fit", *tiny_trainer_args(), *data, *model], tmp_path, "eegencoder")
    base = ["predict", *data, *model, f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}"]
    pred = run_cli(main, [*base, f"--data.predict_file={root / 'Fix' / 'Fix_TEST.ts'}"], tmp_path, "eegencoder")
    rows = list(csv.DictReader((pred / "predictions.csv").read_text().splitlines()))
    assert [int(r["label"]) for r in rows] == content["y_TEST"].tolist() and list(rows[0])[3:] == ["p_b", "p_a"]
    user = tmp_path / "user"
    user.mkdir()
    mat = fixtures_io.write_bnci_mat(user / "A01E.mat", [fixtures_io.make_session(4)])
    err = _refused([*base, f"--data.predict_file={mat}"], tmp_path, capsys)
    assert "channels: trained with 4 [C3, Cz, C4, POz], here 22 [Fz, FC3," in err and "A01E.mat" in err
    five = ts_writer(user / "five.ts", content["x_TEST"][:, [0, 1, 2, 3, 3]], None, ["b", "a"])
    err = _refused([*base, f"--data.predict_file={five}"], tmp_path, capsys)
    assert "channels: trained with 4 [C3, Cz, C4, POz], here 5 [ch1, ch2, ch3, ch4, ch5]" in err
    short = ts_writer(user / "short.ts", content["x_TEST"][:, :, :20], None, ["b", "a"])
    err = _refused([*base, f"--data.predict_file={short}"], tmp_path, capsys)
    assert "samples per trial: trained with 30, here 20" in err
    unnamed = ts_writer(user / "unnamed.ts", content["x_TEST"], None, ["b", "a"])  # no names: the count matches
    pred = run_cli(main, [*base, f"--data.predict_file={unnamed}"], tmp_path, "eegencoder")
    assert {r["label"] for r in csv.DictReader((pred / "predictions.csv").read_text().splitlines())} == {"-1"}
