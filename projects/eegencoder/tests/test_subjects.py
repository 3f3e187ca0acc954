"""The nine-subject driver (``python -m eegencoder.subjects``) on BNCI ``.mat`` fixtures of several subjects."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegencoder.cli import main as cli_main
from eegencoder.data import EEGDataModule
from eegencoder.subjects import main, subject_args
from paperkit.testing import tiny_trainer_args


def _write_subjects(root: Path, io, subjects: list[int]) -> None:
    for s in subjects:
        for k, sess in enumerate("TE"):
            runs = [io.make_session(8, seed=100 * s + 10 * k + r, session=sess) for r in range(2)]
            io.write_bnci_mat(root / f"A0{s}{sess}.mat", runs)


def _common(root: Path, **trainer) -> list[str]:
    data = ["--data.dataset=bnci2014_001", f"--data.root={root}", "--data.batch_size=4", "--model.n_branches=2"]
    return [*data, *tiny_trainer_args(**trainer)]


def test_driver_aggregates_subjects_and_skips_done_ones(
    tmp_path: Path, fixtures_io, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = tmp_path / "bnci", tmp_path / "out"
    _write_subjects(root, fixtures_io, [1, 2])
    monkeypatch.chdir(tmp_path)
    common = _common(root, trainer__limit_test_batches=1.0)
    result = main(["--subjects", "1", "2", "--out", str(out), *common])
    rows = result["rows"]
    assert [r["subject"] for r in rows] == [1, 2]
    for r in rows:  # each row is its own run's test on session E of that subject (all 16 trials)
        metrics = json.loads(Path(r["run_dir"], "test_metrics.json").read_text())
        assert r["accuracy"] == metrics["test/acc"] and r["kappa"] == metrics["test/kappa"]
        per_subject = list(csv.DictReader(Path(r["run_dir"], "per_subject.csv").read_text().splitlines()))
        assert [(p["subject"], p["trials"]) for p in per_subject] == [(str(r["subject"]), "16"), ("mean", "16")]
    acc = [r["accuracy"] for r in rows]
    assert result["summary"]["accuracy"] == pytest.approx({"mean": np.mean(acc), "std": np.std(acc, ddof=1)})
    table = list(csv.DictReader((out / "subjects.csv").read_text().splitlines()))
    assert [t["subject"] for t in table] == ["1", "2", "mean ± std"]
    assert "selection val" in (out / "subjects.md").read_text()
    # a second call finds both subjects done: nothing is trained again
    again = main(["--subjects", "1", "2", "--out", str(out), *common])
    assert again["rows"] == rows
    assert sorted(p.name for p in (out / "runs").glob("subject_*/version_*")) == ["version_0", "version_0"]


@pytest.mark.slow
def test_driver_continues_an_interrupted_subject_from_its_last_checkpoint(
    tmp_path: Path, fixtures_io, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = tmp_path / "bnci", tmp_path / "out"
    _write_subjects(root, fixtures_io, [2])
    monkeypatch.chdir(tmp_path)
    common = _common(root, trainer__max_epochs=2)
    # subject 2 was interrupted after one of its two epochs: the driver continues it in its own folder
    args2 = subject_args(2, [2], "subject_dependent", "val", [], common, 0, out / "runs")
    out.mkdir()
    (out / "subject_2.started.json").write_text(json.dumps({"args": args2}))
    cli_main(["fit", *args2[1:], "--trainer.max_epochs=1"])
    row = main(["--subjects", "2", "--out", str(out), *common])["rows"][0]
    assert row["run_dir"].endswith("subject_2/version_0")  # resumed, not restarted in a new folder
    assert torch.load(Path(row["run_dir"], "checkpoints", "last.ckpt"), weights_only=False)["global_step"] == 4


def test_test_peak_selects_on_the_test_session_and_trains_on_all_of_t(
    tmp_path: Path, fixtures_io, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = tmp_path / "bnci", tmp_path / "out"
    _write_subjects(root, fixtures_io, [3])
    dm = EEGDataModule(dataset="bnci2014_001", root=str(root), subjects=[3], selection="test_peak")
    dm.setup("fit")
    assert len(dm.train_set) == 16  # the whole session T (val: 0 % of it)
    for a, b in zip(dm.val_set.tensors, dm.test_set.tensors):
        assert torch.equal(a, b)  # validation = session E
    monkeypatch.chdir(tmp_path)
    result = main(["--subjects", "3", "--selection", "test_peak", "--out", str(out), *_common(root)])
    metrics = json.loads(Path(result["rows"][0]["run_dir"], "test_metrics.json").read_text())
    assert metrics["selection/val_acc"] == pytest.approx(metrics["test/acc"])  # the reported epoch is the peak on E
    assert "OPTIMISTIC" in (out / "subjects.md").read_text() and "OPTIMISTIC" in result["label"]


def test_loso_folds_hold_out_each_subject() -> None:
    args = subject_args(4, [1, 2, 3, 4], "loso", "val", ["paper.yaml"], ["--trainer.max_epochs=3"], 1, Path("r"))
    assert "--data.subjects=[1,2,3,4]" in args and "--data.protocol=loso" in args and "--data.test_subject=4" in args
    assert args[-1] == "--trainer.max_epochs=3" and "--trainer.logger.init_args.name=subject_4" in args
    assert args[1] == "--config" and args[2].endswith("configs/paper.yaml")
