"""Smoke runs of the compare and bench scripts (slow: several trainings / ResNet-18 steps)."""

from __future__ import annotations

import json
import os

import pytest

from crmt import bench, compare


@pytest.mark.slow
def test_compare_quick(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = compare.main(["--quick", "--seeds", "0", "--out", str(tmp_path / "out")])
    finally:
        os.chdir(old)
    assert set(result["summary"]) == {"JT", "CRMT", "CRMT-AT", "CRMT-Mix", "MMAT", "Mixup", "MSEFM"}
    assert (tmp_path / "out" / "results.md").read_text().count("|") > 20
    assert "test/cert_0.2" in result["summary"]["CRMT"]
    curves = compare.certified_curves(result)
    for kind in ("triangle_", "pairwise_"):  # both bounds for every model, so the figure compares like with like
        assert set(curves[kind]) == {"JT", "CRMT", "CRMT-AT", "CRMT-Mix", "MMAT", "Mixup", "MSEFM"}
    assert (tmp_path / "out" / "certified_vs_radius.png").stat().st_size > 1000


@pytest.mark.slow
def test_bench_tiny(tmp_path):
    out = tmp_path / "bench.json"
    bench.main(
        [
            "--device",
            "cpu",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--batch-size",
            "2",
            "--image-size",
            "16",
            "--audio-frames",
            "32",
            "--out",
            str(out),
        ]
    )
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and all(r["speed_ratio"] > 0 for r in rows)


def test_figure_only_without_results_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        compare.main(["--figure-only", "--out", str(tmp_path / "none")])
    assert exc.value.code == 2 and "results.json" in capsys.readouterr().err
