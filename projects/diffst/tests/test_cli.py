"""The CLI on users' files: predict on a prepared sample (.npy + .h5ad with spatial coordinates), exact resume, and
the `prepare` subcommand's errors."""

from __future__ import annotations

import csv
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch

from diffst.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

FAST = [
    "--model.channels=16",
    "--model.norm_groups=4",
    "--model.sampling_steps=2",
    "--data.genes=4",
    "--data.synthetic_train=8",
    "--data.synthetic_val=4",
    "--data.synthetic_test=4",
    "--data.batch_size=4",
]


def test_predict_on_a_prepared_sample_writes_npy_and_h5ad(tmp_path: Path, official_root: Path) -> None:
    run = run_cli(main, ["fit", *tiny_trainer_args(), *FAST], tmp_path, "diffst")
    ckpt = run / "checkpoints" / "last.ckpt"
    sample = official_root / "Xenium" / "spot_ST" / "extract" / "S2"
    out = run_cli(
        main,
        [
            "predict",
            f"--ckpt_path={ckpt}",
            *FAST,
            f"--data.predict_path={sample}",
            f"--data.root={official_root}",
            "--trainer.enable_progress_bar=false",
        ],
        tmp_path,
        "diffst",
    )
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["patch"] for r in rows] == ["S2/r0_c0", "S2/r0_c1"]
    sr = np.load(out / "super_resolved.npy")
    assert sr.shape == (2, 4, 32, 32) and np.isfinite(sr).all() and sr.min() >= 0 and sr.max() <= 1
    adata = ad.read_h5ad(out / "super_resolved.h5ad")
    assert adata.shape == (2 * 32 * 32, 4) and adata.obsm["spatial"].shape == (2048, 2)
    # patch r0_c1 sits right of r0_c0 on the HR-bin grid; X holds the same maps as the .npy
    second = adata[adata.obs["patch"] == "S2/r0_c1"]
    assert second.obsm["spatial"][:, 0].min() == 32
    np.testing.assert_allclose(second.X[:32, 0], sr[1, 0, 0, :], rtol=1e-6)


def test_predict_refuses_a_spot_map_with_the_wrong_gene_count(tmp_path: Path) -> None:
    run = run_cli(main, ["fit", *tiny_trainer_args(), *FAST], tmp_path, "diffst")
    bad = tmp_path / "s" / "spot_ST" / "extract" / "X" / "p0"
    bad.mkdir(parents=True)
    np.save(bad / "spot_ST.npy", np.zeros((8, 8, 7), dtype=np.float32))
    with pytest.raises(SystemExit) as exc:  # run from tmp_path: nothing may land in the caller's runs/
        run_cli(
            main,
            [
                "predict",
                f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                *FAST,
                f"--data.predict_path={bad / 'spot_ST.npy'}",
                f"--data.root={tmp_path / 'none'}",
            ],
            tmp_path,
        )
    assert exc.value.code == 2


def test_fit_resumed_with_ckpt_path_last_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    args = [*tiny_trainer_args(trainer__limit_val_batches=0), *FAST]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = run_cli(main, ["fit", *args, "--trainer.max_epochs=2"], tmp_path / "a", "diffst")
    run_cli(main, ["fit", *args, "--trainer.max_epochs=1"], tmp_path / "b", "diffst")
    resumed = run_cli(main, ["fit", *args, "--trainer.max_epochs=2", "--ckpt_path=last"], tmp_path / "b", "diffst")
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_prepare_missing_input_is_a_one_paragraph_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "prepare",
                "xenium",
                "--transcripts",
                str(tmp_path / "transcripts.parquet"),
                "--image",
                str(tmp_path / "he.png"),
                "--out",
                str(tmp_path / "o"),
                "--sample",
                "S",
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "transcripts.parquet" in err and "Traceback" not in err
