"""paperkit.report: tables, seed aggregation, JSON and figures."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from paperkit.report import (
    aggregate_seeds,
    gather_rows,
    markdown_table,
    print_metrics,
    read_metrics_csv,
    save_confusion_matrix,
    save_json,
    save_learning_curve,
    save_line_plot,
    save_table,
)


def test_markdown_table_union_of_columns_and_formatting() -> None:
    md = markdown_table([{"a": 1, "b": 0.123456}, {"a": 2, "c": "x"}])
    assert md.splitlines() == ["| a | b | c |", "|---|---|---|", "| 1 | 0.1235 |  |", "| 2 |  | x |"]
    assert markdown_table([]) == ""


def test_aggregate_seeds_mean_and_sample_std() -> None:
    agg = aggregate_seeds([{"acc": 0.5, "k": 1.0}, {"acc": 0.7}, {"acc": 0.9}])
    assert math.isclose(agg["acc"]["mean"], 0.7)
    assert math.isclose(agg["acc"]["std"], 0.2)  # ddof=1
    assert agg["acc"]["n"] == 3 and agg["k"] == {"mean": 1.0, "std": 0.0, "n": 1}


def test_save_json_converts_tensors_and_numpy(tmp_path) -> None:
    p = save_json({"a": torch.tensor(0.5), "b": np.float32(2.0), "c": np.arange(3)}, tmp_path / "d" / "m.json")
    assert json.loads(p.read_text()) == {"a": 0.5, "b": 2.0, "c": [0, 1, 2]}


def test_print_metrics_returns_table(capsys) -> None:
    text = print_metrics({"test/acc": 0.75, "test/kappa": 0.6667})
    assert "| test/acc | 0.7500 |" in text and "| test/kappa | 0.6667 |" in text
    assert "test/acc" in capsys.readouterr().out


def test_figures_are_png(tmp_path) -> None:
    cm = save_confusion_matrix([[5, 1], [0, 4]], ["left", "right"], tmp_path / "cm.png")
    lp = save_line_plot([0, 0.1, 0.2], {"JT": [0.9, 0.5, 0.1], "CRMT": [0.9, 0.7, 0.5]}, tmp_path / "r.png", "r", "acc")
    for p in (cm, lp):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_do_not_touch_pyplot_state(tmp_path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    save_line_plot([0, 1], {"a": [1, 2]}, tmp_path / "l.png", "x", "y")
    assert plt.get_fignums() == before


def test_save_table_writes_csv_and_markdown(tmp_path) -> None:
    csv_path, md_path = save_table(
        [{"subject": 1, "acc": 0.5}, {"subject": "mean", "acc": 0.25, "n": 3}], tmp_path, "t"
    )
    assert csv_path.read_text().splitlines() == ["subject,acc,n", "1,0.5,", "mean,0.25,3"]
    assert md_path.read_text().splitlines()[0] == "| subject | acc | n |"


def test_gather_rows_without_ddp_is_identity() -> None:
    assert gather_rows(None, [{"a": 1}]) == [{"a": 1}]


def test_learning_curve_from_a_csvlogger_file(tmp_path) -> None:
    csv_file = tmp_path / "metrics.csv"
    csv_file.write_text(
        "epoch,step,train/loss_step,train/loss_epoch,val/loss,val/acc\n"
        "0,0,1.0,,,\n0,1,,0.9,,\n0,1,,,0.8,0.5\n1,2,,0.7,,\n1,3,,,0.6,0.75\n"
    )
    m = read_metrics_csv(csv_file)
    assert m["train/loss_epoch"] == {0: 0.9, 1: 0.7} and m["val/acc"] == {0: 0.5, 1: 0.75}
    out = save_learning_curve(csv_file, tmp_path / "lc.png", "val/acc")
    assert out is not None and out.read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "empty.csv").write_text("epoch,step\n")
    assert save_learning_curve(tmp_path / "empty.csv", tmp_path / "none.png") is None
