"""CLI: predict on a user's sessions (CSV and an item list), and exact resume with ``--ckpt_path last``."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from ccql.cli import main
from paperkit.testing import tiny_trainer_args

SMALL = ["--data.synthetic_sessions=100", "--data.batch_size=32", "--data.eval_batch_size=256"]


def _fit(folder: Path, *extra: str) -> Path:
    old = Path.cwd()
    os.chdir(folder)
    try:
        cli = main(["fit", *tiny_trainer_args(), *SMALL, "--data.cache_dir=cache", *extra])
    finally:
        os.chdir(old)
    return Path(cli.trainer.log_dir) if Path(cli.trainer.log_dir).is_absolute() else folder / cli.trainer.log_dir


def test_predict_writes_top_k_per_session(tmp_path: Path) -> None:
    run = _fit(tmp_path)
    ckpt = run / "checkpoints" / "last.ckpt"
    sessions = tmp_path / "sessions.csv"
    pd.DataFrame({"session_id": ["a", "a", "a", "b"], "item_id": ["3", "4", "5", "77"]}).to_csv(sessions, index=False)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        base = ["predict", f"--ckpt_path={ckpt}", *SMALL, "--data.cache_dir=cache", "--data.top_k=5"]
        cli = main([*base, f"--data.predict_file={sessions}", "--trainer.enable_progress_bar=false"])
        out = pd.read_csv(Path(cli.trainer.log_dir) / "predictions.csv")
        assert list(out.columns) == ["id", "session_id", "rank", "item_id", "score"]
        assert out.groupby("session_id").size().to_dict() == {"a": 5, "b": 5}
        a = out[out["session_id"] == "a"]
        assert a["score"].is_monotonic_decreasing and a["rank"].tolist() == [1, 2, 3, 4, 5]
        cli = main(["predict", f"--ckpt_path={ckpt}", *SMALL, "--data.cache_dir=cache", "--data.predict_items=[3,4,5]",
                    "--data.top_k=5", "--trainer.enable_progress_bar=false"])  # fmt: skip
        one = pd.read_csv(Path(cli.trainer.log_dir) / "predictions.csv")
        assert one["item_id"].tolist() == a["item_id"].tolist()  # the same session gives the same ranking
    finally:
        os.chdir(old)


def test_predict_refuses_a_session_without_known_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _fit(tmp_path)
    sessions = tmp_path / "s.csv"
    pd.DataFrame({"session_id": ["x"], "item_id": ["no-such-item"]}).to_csv(sessions, index=False)
    with pytest.raises(SystemExit) as exc:
        main(["predict", f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}", *SMALL,
              f"--data.cache_dir={tmp_path / 'cache'}", f"--data.predict_file={sessions}"])  # fmt: skip
    assert exc.value.code == 2 and "no item id of the training catalogue" in capsys.readouterr().err


def test_resume_ends_with_the_same_weights(tmp_path: Path) -> None:
    # the phase switch (fresh Adam with lr_2) falls inside the resumed epoch
    extra = ["--trainer.limit_train_batches=4", "--model.switch_interval=6", "--model.lr_2=0.002"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = _fit(tmp_path / "a", *extra, "--trainer.max_epochs=2")
    _fit(tmp_path / "b", *extra, "--trainer.max_epochs=1")
    resumed = _fit(tmp_path / "b", *extra, "--trainer.max_epochs=2", "--ckpt_path=last")
    wa = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)
    wb = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert wa["global_step"] == wb["global_step"] == 8
    for k, v in wa["state_dict"].items():
        torch.testing.assert_close(wb["state_dict"][k], v, rtol=0, atol=0, msg=k)
    assert wb["optimizer_states"][0]["param_groups"][0]["lr"] == 0.002
