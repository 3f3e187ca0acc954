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


def test_vllm_is_optional_and_its_absence_is_a_clear_error(tiny_lm_dir: Path, tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)  # not installed (import raises ImportError)
    queries = tmp_path / "q.json"
    queries.write_text(json.dumps(["hello there"]))
    with pytest.raises(SystemExit) as exc:
        main(["generate", f"--model={tiny_lm_dir}", f"--queries={queries}", "--backend=vllm",
              f"--out={tmp_path / 'o'}"])  # fmt: skip
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "vLLM is not installed" in err and "Traceback" not in err


def test_vllm_backend_calls_vllm_with_the_generation_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    calls = {}

    class LLM:
        def __init__(self, model: str, seed: int) -> None:
            calls["init"] = (model, seed)

        def generate(self, prompts, params):
            calls["params"] = params
            out = types.SimpleNamespace(text=" an answer\n\nHuman: more")
            return [types.SimpleNamespace(outputs=[out]) for _ in prompts]

    fake = types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    from sami.generation import generate_responses_vllm

    got = generate_responses_vllm("some/folder", ["p1", "p2"], max_new_tokens=7, temperature=0.0, seed=3)
    assert got == [" an answer"] * 2  # cut at the stop string, as the HF backend
    assert calls["init"] == ("some/folder", 3)
    assert calls["params"] == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 7, "stop": ["Human:", "###"]}


def test_principle_check_rejects_off_point_sentences() -> None:
    from sami.principles import DESCRIPTIONS, KEYWORDS, principle_ok

    assert KEYWORDS.keys() == DESCRIPTIONS.keys()  # every principle the writer offers can be checked
    pos, neg = KEYWORDS["concise"]
    assert principle_ok("Be concise: answer in a few words.", pos)
    assert not principle_ok("Awesome, I'm ready. I'm ready.", pos)  # SmolLM2's greedy answer: off the point
    assert not principle_ok("I am a concise assistant and answer briefly.", pos)  # speaks as the assistant
    assert not principle_ok("Concise.", pos)  # too short
    assert principle_ok("Give long answers with plenty of detail.", neg)
    assert not principle_ok("Be concise.", neg, other="Be concise.")
    # turned into the antithesis: SmolLM2's first tries for "verbose" (session 27)
    assert not principle_ok("To be verbose and give long answers is an absolute no!", neg, opposite=pos)
    assert not principle_ok("When answering a question, provide concise and clear answers.", neg, opposite=pos)
    assert principle_ok("Never be concise: give long answers with plenty of detail.", neg, opposite=pos)
    lpos, lneg = KEYWORDS["list"]
    assert principle_ok("Always respond in flowing prose paragraphs and avoid using lists.", lneg, opposite=lpos)
    assert not principle_ok("Do not answer in prose paragraphs.", lneg, opposite=lpos)


def test_principle_writer_retries_until_a_sentence_passes_and_records_every_attempt(monkeypatch) -> None:
    import sami.principles as pr

    answers = iter(["Awesome, I'm ready.", "Keep every answer short and concise.", "Use long, detailed answers."])
    calls = []

    def fake_ask(model, tokenizer, what, max_new_tokens, temperature=0.0, seed=0):
        calls.append((what, temperature, seed))
        return next(answers)

    monkeypatch.setattr(pr, "_ask", fake_ask)
    principle, tried = pr.write_principle(None, None, "concise", *pr.DESCRIPTIONS["concise"], attempts=3)
    assert principle.text == "Keep every answer short and concise." and principle.antithesis.startswith("Use long")
    assert tried == {"principle": ["Awesome, I'm ready.", "Keep every answer short and concise."],
                     "antithesis": ["Use long, detailed answers."]}  # fmt: skip
    assert [c[1] for c in calls] == [0.0, 0.8, 0.0]  # greedy first, then sampled; greedy again for the antithesis


def test_principle_writer_without_a_usable_sentence_is_a_clear_error(tiny_lm_dir: Path, tmp_path: Path,
                                                                     capsys) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as exc:  # a random tiny model writes nothing that names "concise"
        main(["write-principles", f"--model={tiny_lm_dir}", "--names", "concise", "--attempts=2",
              f"--out={tmp_path / 'p'}"])  # fmt: skip
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no usable principle for 'concise' in 2 attempts" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["write-principles", f"--model={tiny_lm_dir}", "--attempts=0", f"--out={tmp_path / 'p'}"])
    assert exc.value.code == 2 and "--attempts must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_compare_refuses_a_missing_iterate_config_before_any_run(tmp_path: Path, capsys) -> None:
    from sami.compare import main as compare

    with pytest.raises(SystemExit) as exc:
        compare(["--iterate", "--iterate_config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no such file" in err and "nope.yaml" in err
    assert not (tmp_path / "c").exists()  # nothing ran
