"""``sami generate`` on a user's model folder and query file, and ``sami iterate`` (slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from paperkit.testing import tiny_trainer_args
from sami.cli import main
from sami.formats import load_eval_responses


def test_generate_writes_official_eval_responses(tiny_lm_dir: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.json"
    queries.write_text(json.dumps(["hello there", "how are you?"]))
    out = tmp_path / "responses.json"
    res = main(["generate", f"--model={tiny_lm_dir}", f"--queries={queries}", "--constitution=1. Be kind.",
                "--max_new_tokens=5", f"--out={out}"])  # fmt: skip
    cons, qs, rs = load_eval_responses(out)
    assert qs == ["hello there", "how are you?"] and cons == ["1. Be kind."] * 2 and rs == res["responses"]


def test_generate_refuses_a_missing_query_file(tiny_lm_dir: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", f"--model={tiny_lm_dir}", f"--queries={tmp_path / 'nope.json'}", f"--out={tmp_path / 'o'}"])
    assert exc.value.code == 2 and "nope.json" in capsys.readouterr().err


@pytest.mark.slow
def test_iterate_continue_writes_every_iteration_and_the_figure(tmp_path: Path) -> None:
    small = ["--data.n_train=8", "--data.n_val=4", "--data.n_test=4", "--data.batch_size=4", "--torch_threads=1"]
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        res = main(["iterate", "--iterations=2", "--mode=continue", "--steps_per_iteration=2", *tiny_trainer_args(),
                    *small])  # fmt: skip
    finally:
        os.chdir(old)
    rows = res["iterations"]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert any(a.startswith("--data.generator_path=") for a in rows[1]["args"])
    assert any(a.startswith("--model.reference_path=") for a in rows[1]["args"])
    assert Path(rows[1]["run_dir"], "hf_model").is_dir()
    assert (tmp_path / res["out"] / "iterations.png").is_file()
