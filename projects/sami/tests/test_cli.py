"""The CLI on the embedded toy setting: self-generated data in the official format, the exported model, predict on a
user's query file, and exact resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from paperkit.testing import run_cli, tiny_trainer_args
from sami.cli import main
from sami.formats import load_training_data

SMALL = ["--data.n_train=8", "--data.n_val=4", "--data.n_test=4", "--data.batch_size=4", "--torch_threads=1"]


def test_train_writes_official_data_metrics_and_a_loadable_model(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    run = run_cli(main, ["train", *tiny_trainer_args(), *SMALL], tmp_path, "sami")
    examples = load_training_data(run / "train_data.json")
    assert examples and all(len(ex.prompts) == len(ex.responses) == 2 for ex in examples)
    assert all("Constitution:" in p for ex in examples for p in ex.prompts)
    metrics = json.loads((run / "test_metrics.json").read_text())
    for k in ("test/mi", "test/mi_base", "test/win_rate"):
        assert k in metrics
    assert 0.0 <= metrics["test/win_rate"] <= 1.0
    wins = json.loads((run / "win_rates.json").read_text())
    assert len(wins) == 4 and all(len(r) == 3 and r[0] in (0.0, 0.5, 1.0) for r in wins)
    assert json.loads((run / "responses_sami.json").read_text())["question"]
    assert AutoModelForCausalLM.from_pretrained(run / "hf_model") is not None

    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps(["a b c d", "x y z w", "Hello, wie geht's? ünïcödé"]))
    ckpt = run / "checkpoints" / "last.ckpt"
    pred = run_cli(main, ["predict", f"--ckpt_path={ckpt}", f"--data.predict_file={queries}",
                          "--trainer.enable_progress_bar=false", "--torch_threads=1"], tmp_path, "sami")  # fmt: skip
    rows = list(csv.DictReader((pred / "predictions.csv").open()))
    assert [r["query"] for r in rows] == json.loads(queries.read_text())
    assert all(r["constitution"].startswith("1. ") for r in rows)


def test_fit_resumed_with_ckpt_path_last_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    common = [*tiny_trainer_args(trainer__max_epochs=2), *SMALL]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = run_cli(main, ["fit", *common], tmp_path / "a", "sami")
    run_cli(main, ["fit", *tiny_trainer_args(trainer__max_epochs=1), *SMALL], tmp_path / "b", "sami")
    resumed = run_cli(main, ["fit", *common, "--ckpt_path=last"], tmp_path / "b", "sami")
    want = torch.load(full / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    got = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0, msg=k)


def test_all_constitutions_per_query_trains_on_the_positive_and_every_negation(tmp_path: Path) -> None:
    """``constitutions_per_query: all``: every training example holds C = 4 records, one per combination of the two
    toy principles and their antitheses (principle order shuffled), and the C x C step trains and tests."""
    args = ["train", *tiny_trainer_args(), *SMALL, "--data.constitutions_per_query=all"]
    run = run_cli(main, args, tmp_path, "sami")
    examples = load_training_data(run / "train_data.json")
    assert examples
    for ex in examples:
        assert len(ex.prompts) == len(ex.responses) == 4
        kinds = {
            ("short" if "Be short." in p else "long" if "Be long." in p else "?")
            + ("/vowels" if "Use vowels." in p else "/consonants" if "Use consonants." in p else "/?")
            for p in ex.prompts
        }
        assert kinds == {"short/vowels", "short/consonants", "long/vowels", "long/consonants"}, ex.prompts
    assert "test/mi" in json.loads((run / "test_metrics.json").read_text())
