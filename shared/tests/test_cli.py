"""paperkit.cli: default config, seed, run folder, checkpoints, test metrics JSON, errors, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from paperkit.cli import collect_rng_states, set_rng_states
from paperkit.runs import find_last_checkpoint, latest_run
from paperkit.testing import run_cli, tiny_trainer_args
from paperkit_toy import ToyCLI, main

FAST = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def _printed_config(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:
    with pytest.raises(SystemExit) as exc:
        main(["fit", *args, "--print_config"])
    assert exc.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_packaged_default_config_is_the_base(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _printed_config(capsys, [])
    assert cfg["trainer"]["max_epochs"] == 3  # from paperkit_toy/default.yaml, not Lightning's default
    assert cfg["data"]["n"] == 256
    assert cfg["seed_everything"] == 0 and isinstance(cfg["seed_everything"], int)
    assert cfg["checkpoint"]["save_last"] is True
    assert cfg["checkpoint"]["monitor"] == "val/acc"
    assert cfg["trainer"]["logger"]["init_args"]["name"] == "paperkit_toy"


def test_user_config_layers_on_top_of_default(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "paper.yaml"
    extra.write_text("trainer:\n  max_epochs: 7\nmodel:\n  hidden: 5\n")
    cfg = _printed_config(capsys, ["--config", str(extra)])
    assert cfg["trainer"]["max_epochs"] == 7
    assert cfg["model"]["hidden"] == 5
    assert cfg["data"]["n"] == 256  # untouched keys keep the default
    assert cfg["data"]["dim"] == 8


def test_train_writes_run_folder_checkpoints_and_metrics(tmp_path) -> None:
    run = run_cli(main, ["train", "--trainer.max_epochs=2", *FAST], tmp_path, "paperkit_toy")
    assert run == tmp_path / "runs" / "paperkit_toy" / "version_0"
    assert (run / "config.yaml").is_file()
    assert (run / "metrics.csv").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert set(metrics) == {"test/acc", "test/loss", "selection/val_acc", "selection/best_epoch"}
    best = next((run / "checkpoints").glob("epoch=*.ckpt"))
    assert metrics["selection/best_epoch"] == torch.load(best, weights_only=False)["epoch"]
    assert (run / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert metrics["test/acc"] > 0.8  # well-separated blobs: the test really evaluated a trained model
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["trainer"]["max_epochs"] == 2
    # a second run gets the next version folder, the first one is left alone
    run2 = run_cli(main, ["fit", *tiny_trainer_args()], tmp_path, "paperkit_toy")
    assert run2.name == "version_1"
    assert (run / "test_metrics.json").is_file()


def test_test_subcommand_writes_metrics_for_a_checkpoint(tmp_path) -> None:
    run = run_cli(main, ["fit", *tiny_trainer_args()], tmp_path, "paperkit_toy")
    ckpt = run / "checkpoints" / "last.ckpt"
    run_t = run_cli(main, ["test", f"--ckpt_path={ckpt}", *FAST], tmp_path, "paperkit_toy")
    assert json.loads((run_t / "test_metrics.json").read_text())["test/acc"] >= 0


def test_seed_makes_runs_identical(tmp_path) -> None:
    a = run_cli(main, ["fit", *tiny_trainer_args(), "--seed_everything=3"], tmp_path, "paperkit_toy")
    b = run_cli(main, ["fit", *tiny_trainer_args(), "--seed_everything=3"], tmp_path, "paperkit_toy")
    c = run_cli(main, ["fit", *tiny_trainer_args(), "--seed_everything=4"], tmp_path, "paperkit_toy")
    sa, sb, sc = (torch.load(r / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"] for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_resume_last_gives_the_same_weights_as_an_uninterrupted_run(tmp_path) -> None:
    common = [*FAST, "--trainer.limit_train_batches=3", "--seed_everything=11"]
    full_dir = tmp_path / "full"
    part_dir = tmp_path / "part"
    full_dir.mkdir()
    part_dir.mkdir()
    full = run_cli(main, ["fit", "--trainer.max_epochs=3", *common], full_dir, "paperkit_toy")
    part = run_cli(main, ["fit", "--trainer.max_epochs=1", *common], part_dir, "paperkit_toy")
    resumed = run_cli(main, ["fit", "--trainer.max_epochs=3", "--ckpt_path=last", *common], part_dir, "paperkit_toy")
    assert resumed == part  # resumed in its own folder, no new version
    ref = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)
    got = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert got["epoch"] == ref["epoch"] == 2
    for k, v in ref["state_dict"].items():
        assert torch.equal(v, got["state_dict"][k]), k


def test_resume_last_without_runs_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["fit", "--ckpt_path=last", *tiny_trainer_args()], tmp_path)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "no checkpoint to resume" in err and "Traceback" not in err


def test_data_errors_are_one_paragraph_with_exit_code_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, ["fit", "--data.root=/nonexistent/toy", *tiny_trainer_args()], tmp_path)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Dataset 'toy' not found under '/nonexistent/toy'.")
    assert "toy.npy" in err and "Download it from nowhere" in err
    assert "Traceback" not in err


def test_find_last_checkpoint_picks_the_newest(tmp_path) -> None:
    assert find_last_checkpoint(tmp_path, "x") is None
    for v in (0, 3):
        d = tmp_path / "x" / f"version_{v}" / "checkpoints"
        d.mkdir(parents=True)
        (d / "last.ckpt").write_bytes(b"0")
    import os

    os.utime(tmp_path / "x" / "version_0" / "checkpoints" / "last.ckpt", (1, 1))
    ckpt, version = find_last_checkpoint(tmp_path, "x")
    assert version == 3 and ckpt.parent.parent.name == "version_3"


def test_rng_states_round_trip_through_weights_only_load(tmp_path) -> None:
    import random

    import numpy as np

    states = collect_rng_states()
    torch.save(states, tmp_path / "s.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_states(torch.load(tmp_path / "s.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_cli_requires_a_slug() -> None:
    class NoSlug(ToyCLI):
        slug = ""

    with pytest.raises(TypeError, match="slug"):
        NoSlug(args=["fit"])


def test_latest_run_reports_missing_folder(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        latest_run(tmp_path, "nothing")


def test_last_checkpoint_is_rewritten_every_epoch_when_the_monitor_stops_improving(tmp_path) -> None:
    # mode=max on a falling loss: the best checkpoint stays at epoch 0, last.ckpt must still follow training
    args = ["fit", *tiny_trainer_args(trainer__max_epochs=3), "--checkpoint.monitor=val/loss", "--checkpoint.mode=max"]
    run = run_cli(main, args, tmp_path, "paperkit_toy")
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2
    best = [p.name for p in (run / "checkpoints").glob("epoch=*.ckpt")]
    assert best == ["epoch=0-step=2.ckpt"]


def test_console_script_exits_zero(tmp_path) -> None:
    import subprocess
    import sys

    code = "import sys; from paperkit_toy import main; sys.exit(main())"
    env = {"PYTHONPATH": str(Path(__file__).parent / "toy_pkg"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, "fit", "--trainer.fast_dev_run=true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_torch_threads_option_sets_and_default_leaves_torch_alone(tmp_path) -> None:
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    try:
        run = run_cli(main, ["fit", f"--torch_threads={target}", *tiny_trainer_args()], tmp_path, "paperkit_toy")
        assert torch.get_num_threads() == target
        assert yaml.safe_load((run / "config.yaml").read_text())["torch_threads"] == target
        torch.set_num_threads(3)  # a count nothing else sets
        run_cli(main, ["fit", *tiny_trainer_args()], tmp_path, "paperkit_toy")  # default null: untouched
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_option_abbreviations_are_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--model.hidde=5", "--print_config"])  # a prefix of --model.hidden
    assert exc.value.code == 2
    assert "--model.hidde" in capsys.readouterr().err


def _exit_code_and_err(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, args, cwd)
    return exc.value.code, capsys.readouterr().err


def test_predict_refuses_random_weights_and_missing_checkpoints(tmp_path, capsys) -> None:
    code, err = _exit_code_and_err(["predict", "--data.predict_file=x.npy"], tmp_path, capsys)
    assert code == 2 and "needs a trained checkpoint" in err and "Traceback" not in err
    for sub in ("predict", "test", "validate"):
        code, err = _exit_code_and_err([sub, "--ckpt_path=missing.ckpt"], tmp_path, capsys)
        assert code == 2 and "no such checkpoint file" in err, sub


def test_predict_writes_one_row_per_sample_and_bad_files_are_errors(tmp_path, capsys) -> None:
    import numpy as np

    run = run_cli(main, ["fit", *tiny_trainer_args()], tmp_path, "paperkit_toy")
    ckpt = run / "checkpoints" / "last.ckpt"
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(7, 8)).astype("float32"))
    out = run_cli(
        main, ["predict", f"--ckpt_path={ckpt}", "--data.predict_file=x.npy", *FAST], tmp_path, "paperkit_toy"
    )
    lines = (out / "predictions.csv").read_text().splitlines()
    assert lines[0] == "id,pred,p_0,p_1,p_2" and len(lines) == 8
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file at all")
    code, err = _exit_code_and_err(["predict", f"--ckpt_path={ckpt}", "--data.predict_file=bad.npy"], tmp_path, capsys)
    assert code == 2 and "bad.npy" in err and "Traceback" not in err


def test_test_prints_one_metrics_table(tmp_path, capsys) -> None:
    run = run_cli(main, ["fit", *tiny_trainer_args()], tmp_path, "paperkit_toy")
    capsys.readouterr()
    out = run_cli(main, ["test", f"--ckpt_path={run / 'checkpoints' / 'last.ckpt'}", *FAST], tmp_path, "paperkit_toy")
    printed = capsys.readouterr().out
    assert printed.count("test/acc") == 1  # paperkit's table only, not Lightning's as well
    assert json.loads((out / "test_metrics.json").read_text())["selection/val_acc"] >= 0  # read from the checkpoint


def test_no_args_warning_or_litlogger_tip(tmp_path, capsys, caplog, monkeypatch) -> None:
    import sys
    import warnings

    monkeypatch.setattr(sys, "argv", ["paperkit_toy", "fit", *tiny_trainer_args()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_cli(main, sys.argv[1:], tmp_path)
    assert not [w for w in caught if "args parameter" in str(w.message)]
    assert "litlogger" not in capsys.readouterr().err + caplog.text


@pytest.mark.parametrize("kind", ["parse", "instantiate"])
def test_links_class_attributes_link_data_into_model(kind: str) -> None:
    from paperkit_toy import ToyData, ToyModule

    class Linked(ToyCLI):
        parse_links = ToyCLI.parse_links if kind == "parse" else ()
        links = () if kind == "parse" else ("n_classes", ("data.dim", "model.dim"))

    cli = Linked(ToyModule, ToyData, args=["--data.n_classes=5", "--data.dim=4"], run=False)
    assert cli.model.hparams.n_classes == 5 and cli.model.hparams.dim == 4
    assert cli.model.net[0].in_features == 4
