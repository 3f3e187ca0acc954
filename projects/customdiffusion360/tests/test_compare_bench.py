"""Smoke tests of the comparison and benchmark scripts (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_compare_quick_writes_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_dirs) -> None:
    from customdiffusion360.compare import VARIANTS, main

    monkeypatch.chdir(tmp_path)
    names = [VARIANTS[0].name, VARIANTS[1].name]
    result = main(["--quick", "--seeds", "0", "--out", str(tmp_path / "cmp"), "--variants", *names])
    assert set(result["summary"]) == set(names)
    table = (tmp_path / "cmp" / "results.md").read_text()
    assert "test/mse_true" in table and "token only" in table


@pytest.mark.slow
def test_bench_reports_the_pose_block_overhead(tmp_path: Path) -> None:
    from customdiffusion360.bench import main

    out = tmp_path / "bench.json"
    main(["--device", "cpu", "--steps", "1", "--warmup", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and all(r["speed_ratio"] > 0 for r in rows)
    assert rows[0]["reference"]["name"].startswith("frozen base step")
