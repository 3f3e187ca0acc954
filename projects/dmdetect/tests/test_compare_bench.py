"""Smoke tests of the comparison and benchmark scripts (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_compare_quick_writes_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dmdetect.compare import main

    monkeypatch.chdir(tmp_path)
    names = ["combined + SAM (paper)", "ERM", "held-out gen4: ERM"]
    result = main(["--quick", "--seeds", "0", "--out", str(tmp_path / "cmp"), "--variants", *names])
    assert set(result["summary"]) == set(names)
    table = (tmp_path / "cmp" / "results.md").read_text()
    assert "test/auc" in table and "test/real_recall" in table


@pytest.mark.slow
def test_bench_sam_against_adamw(tmp_path: Path) -> None:
    from dmdetect.bench import main

    out = tmp_path / "bench.json"
    main(["--device", "cpu", "--steps", "1", "--warmup", "0", "--skip-clip", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["time_ratio"] > 1.0  # two passes cost more than one
