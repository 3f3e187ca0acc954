"""CLI tests: fast_dev_run offline in an empty folder writes the data and the teacher cache, train writes its outputs,
predict writes probabilities for an image + text pair and for a folder with a JSON list."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clfa.cli import main
from paperkit.errors import PaperkitError
from paperkit.testing import run_cli, tiny_trainer_args

PROJECT = Path(__file__).resolve().parents[1]
SMALL = ["--data.synthetic.n_train=64", "--data.synthetic.n_valid=32", "--data.synthetic.n_test=32"]


def test_fast_dev_run_in_empty_folder(tmp_path) -> None:
    run_cli(main, ["fit", "--trainer.fast_dev_run=true", *SMALL], tmp_path)
    assert (tmp_path / "data/clfa/synthetic/text_json_final/train.json").is_file()
    assert any((tmp_path / "data/clfa/synthetic/clfa_teacher_cache").glob("synthetic-train-*.pt"))


def test_train_then_predict(tmp_path) -> None:
    run = run_cli(main, ["train", *SMALL, *tiny_trainer_args(), "--trainer.limit_test_batches=2"], tmp_path, "clfa")
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert {"test/acc", "test/f1", "test/precision", "test/recall", "test/macro_f1"} <= set(metrics)
    rows = list(csv.DictReader((run / "predictions_test.csv").open()))
    assert len(rows) == 32 and set(rows[0]) == {"id", "label", "pred", "prob_non-sarcastic", "prob_sarcastic"}
    ckpt = next((run / "checkpoints").glob("last*.ckpt"))

    syn = tmp_path / "data/clfa/synthetic"
    items = json.loads((syn / "text_json_final/test.json").read_text())[:3]
    folder = tmp_path / "to_predict"
    folder.mkdir()
    (folder / "tweets.json").write_text(
        json.dumps(
            [{"image": f"../data/clfa/synthetic/dataset_image/{r['image_id']}.jpg", "text": r["text"]} for r in items]
        )
    )
    for target in (
        [f"--data.predict_path={folder}"],
        [
            f"--data.predict_path={syn / 'dataset_image' / (str(items[0]['image_id']) + '.jpg')}",
            f"--data.predict_text={items[0]['text']}",
        ],
    ):
        out = run_cli(main, ["predict", *SMALL, f"--ckpt_path={ckpt}", *target, *tiny_trainer_args()], tmp_path, "clfa")
        pred = list(csv.DictReader((out / "predictions.csv").open()))
        assert len(pred) == (3 if len(target) == 1 else 1)  # one row per pair
        by_id = {r["id"]: r for r in rows}
        first = by_id[str(items[0]["image_id"])]  # the same pair, scored by `test` on the same checkpoint's run
        for col in ("pred", "prob_non-sarcastic", "prob_sarcastic"):
            assert pred[0][col] == first[col], col
        assert pred[0]["pred"] in ("non-sarcastic", "sarcastic")  # the class name, not its index


def test_python_predict_api_matches_the_test_predictions(tmp_path, monkeypatch) -> None:
    import clfa

    monkeypatch.chdir(tmp_path)
    run = run_cli(main, ["train", *SMALL, *tiny_trainer_args(), "--trainer.limit_test_batches=2"], tmp_path, "clfa")
    rows = {r["id"]: r for r in csv.DictReader((run / "predictions_test.csv").open())}
    items = json.loads((tmp_path / "data/clfa/synthetic/text_json_final/test.json").read_text())[:2]
    images = [tmp_path / "data/clfa/synthetic/dataset_image" / f"{r['image_id']}.jpg" for r in items]
    ckpt = next((run / "checkpoints").glob("epoch=*.ckpt"))  # the checkpoint `train` tested
    out = clfa.predict(images, [r["text"] for r in items], ckpt)
    assert len(out) == 2
    for got, item in zip(out, items):
        ref = rows[str(item["image_id"])]
        assert got["pred"] == ref["pred"] and abs(got["prob_sarcastic"] - float(ref["prob_sarcastic"])) < 1e-5
    with pytest.raises(PaperkitError, match="texts"):
        clfa.predict(images, ["only one"], ckpt)


def test_missing_real_data_is_a_clear_error(tmp_path, capsys) -> None:
    from .helpers import save_tiny_bert_tokenizer

    tok = save_tiny_bert_tokenizer(tmp_path / "tok")
    args = ["fit", "--data.dataset=mmsd2", f"--data.root={tmp_path / 'nope'}", f"--data.tokenizer={tok}",
            "--trainer.fast_dev_run=true"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, args, tmp_path)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "mmsd2" in err and "text_json_final" in err and "github.com/JoeYing1019/MMSD2.0" in err
