"""CLI: `train` runs both steps + the evaluation, exact resume, clear data errors (print_config and the tiny fit are
root contract tests)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from crmt.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

PROJECT = Path(__file__).resolve().parents[1]
SMALL_DATA = ["--data.n_train=256", "--data.n_val=64", "--data.n_test=64", "--data.batch_size=64"]
SMALL_EVAL = ["--model.pgd_steps=2", "--model.curve_radii=[0.2,0.5]"]


@pytest.mark.parametrize("variant", ["crmt_jt", "jt"])
def test_train_runs_both_steps_and_evaluates(tmp_path, variant):
    cfg = str(PROJECT / "configs" / "ablations" / f"{variant}.yaml")
    epochs = ["--model.step1_epochs=1", f"--model.step2_epochs={0 if variant == 'jt' else 1}"]
    args = [
        "train",
        "--config",
        cfg,
        *SMALL_DATA,
        *SMALL_EVAL,
        *epochs,
        *tiny_trainer_args(trainer__max_epochs=1 if variant == "jt" else 2, trainer__limit_test_batches=2),
    ]
    run = run_cli(main, args, tmp_path, "crmt")
    metrics = json.loads((run / "test_metrics.json").read_text())
    for key in (
        "test/acc",
        "test/missing_A",
        "test/missing_B",
        "test/pgd_both",
        "test/pgd_A_cw",
        "test/fgm_B_ce",
        "test/cert_0.2",
        "test/cert_pairwise_0.2",
        "test/cert_triangle_0.2",
        "test/cert_A_0.2",
        "test/cert_flipped_both",
        "test/median_radius",
    ):
        assert key in metrics and 0.0 <= metrics[key] <= 1e6, key
    assert (run / "robustness.png").is_file()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["epoch"] == (0 if variant == "jt" else 1)  # the tested checkpoint is the one after step 2
    # τ̂ is in the checkpoint for both (JT: estimated at the last epoch's validation), so predict certifies with it
    assert bool(ckpt["state_dict"]["lip_ready"])
    assert (variant == "jt") == bool(ckpt["state_dict"]["lip_pair"].abs().sum() > 0)  # JT's pairwise τ̂
    from crmt.data import make_synthetic

    xa, xb, _ = make_synthetic(5, seed=9)
    np.savez(tmp_path / "x.npz", A=xa, B=xb)
    pred = run_cli(main, ["predict", f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                          f"--data.predict_file={tmp_path / 'x.npz'}", "--trainer.enable_progress_bar=false"],
                   tmp_path, "crmt")  # fmt: skip
    with open(pred / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and all(float(r["certified_radius"]) >= 0 for r in rows)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


def test_resume_in_step2_is_exact(tmp_path):
    base = [
        "fit",
        *SMALL_DATA,
        "--model.step1_epochs=2",
        "--model.step2_epochs=2",
        *tiny_trainer_args(trainer__limit_train_batches=3),
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = run_cli(main, [*base, "--trainer.max_epochs=4"], tmp_path / "a", "crmt")
    part = run_cli(main, [*base, "--trainer.max_epochs=3"], tmp_path / "b", "crmt")
    resumed = run_cli(main, [*base, "--trainer.max_epochs=4", "--ckpt_path=last"], tmp_path / "b", "crmt")
    assert resumed == part
    wa, wb = _weights(full), _weights(resumed)
    assert torch.equal(wa["lip"], wb["lip"]) and bool(wb["lip_ready"])
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_missing_data_is_a_clean_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(
            main,
            [
                "fit",
                "--data.dataset=kinetics_sounds",
                f"--data.root={tmp_path}/none",
                "--config",
                str(PROJECT / "configs" / "paper.yaml"),
            ],
            tmp_path,
        )
    assert exc.value.code == 2
    assert "ks_train_overlap.txt" in capsys.readouterr().err


def test_max_epochs_beyond_the_two_step_schedule_is_an_error(tmp_path, capsys):
    args = ["fit", *SMALL_DATA, "--model.step1_epochs=1", "--model.step2_epochs=1",
            *tiny_trainer_args(trainer__max_epochs=5)]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        run_cli(main, args, tmp_path, "crmt")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "trainer.max_epochs=5" in err and "--trainer.max_epochs=2" in err


def test_a_run_that_stopped_before_step2_is_not_tested_as_crmt(tmp_path, capsys):
    args = ["train", *SMALL_DATA, *SMALL_EVAL, "--model.step1_epochs=1", "--model.step2_epochs=1",
            *tiny_trainer_args(trainer__max_epochs=1)]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        run_cli(main, args, tmp_path, "crmt")
    assert exc.value.code == 2
    assert "stopped before step 2" in capsys.readouterr().err
    assert not list((tmp_path / "runs" / "crmt").glob("version_*/test_metrics.json"))


def test_step2_trains_only_a_raises_the_radius_and_keeps_a_above_its_floor(tmp_path):
    """Step 2 (Sec. 4.2, Eq. 10): encoders, W̃ and b frozen, only the integration weights a move, projected onto
    a >= a_min, and the mean certified radius on the training data grows."""
    base = ["fit", *SMALL_DATA, "--model.step1_epochs=1", "--model.step2_epochs=2", "--model.a_init=-0.5"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # the same seeded run twice: stopped after step 1 (a partial run), and through step 2
    step1 = run_cli(main, [*base, *tiny_trainer_args(trainer__max_epochs=1, trainer__limit_train_batches=4)],
                    tmp_path / "a", "crmt")  # fmt: skip
    full = run_cli(main, [*base, *tiny_trainer_args(trainer__max_epochs=3, trainer__limit_train_batches=4)],
                   tmp_path / "b", "crmt")  # fmt: skip
    after1, after2 = _weights(step1), _weights(full)
    moved = {k for k in after1 if not torch.equal(after1[k], after2[k])}
    assert "net.head.a" in moved
    assert moved <= {"net.head.a", "lip", "lip_pair", "lip_ready"}, moved  # nothing else trains in step 2
    a_min = 1e-3
    assert bool((after1["net.head.a"] >= a_min).all()) and bool((after2["net.head.a"] >= a_min).all())

    from crmt.data import CRMTDataModule
    from crmt.module import CRMTModule

    dm = CRMTDataModule(n_train=256, n_val=64, n_test=64, batch_size=64)
    dm.setup("fit")
    module = CRMTModule(n_classes=dm.n_classes, in_sizes=dm.in_sizes, modality_names=dm.modality_names)
    radius = []
    for state in (after1, after2):
        module.load_state_dict({**state, "lip": after2["lip"]})  # the same τ̂ for both
        with torch.no_grad():
            losses = [module.compute_step2_loss(xs, y)[0] for xs, y in dm.lipschitz_dataloader()]
        radius.append(-float(torch.stack(losses).mean()))
    assert radius[1] > radius[0], radius
