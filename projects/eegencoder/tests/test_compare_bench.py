"""Smoke tests of the comparison and benchmark scripts (slow: they build every model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_compare_quick_writes_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eegencoder.compare import CLASSICAL, VARIANTS, main

    monkeypatch.chdir(tmp_path)
    result = main(["--quick", "--seeds", "0", "--out", str(tmp_path / "cmp")])
    classical = CLASSICAL["synthetic"][0]  # the log-variance + shrinkage LDA row
    assert set(result["summary"]) == {v.name for v in VARIANTS} | {classical}
    table = (tmp_path / "cmp" / "results.md").read_text()
    assert "test/acc" in table and "test/kappa" in table and "ATCNet" in table and classical in table


@pytest.mark.slow
def test_bench_measures_eegencoder_against_atcnet(tmp_path: Path) -> None:
    from eegencoder.bench import main

    out = tmp_path / "bench.json"
    main(["--device", "cpu", "--steps", "1", "--warmup", "0", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["pair"] == "eegencoder vs braindecode.ATCNet" and rows[0]["speed_ratio"] > 0
