"""paperkit.report: tables, seed aggregation, JSON and figures."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from paperkit.report import (
    aggregate_seeds,
    markdown_table,
    print_metrics,
    save_confusion_matrix,
    save_json,
    save_line_plot,
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
