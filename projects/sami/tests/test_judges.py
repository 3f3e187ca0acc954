"""Judges and win rates: the rule judges, A/B randomisation, ties, and the OpenAI-compatible endpoint against a local
HTTP server (answers, an error status, a timeout)."""

from __future__ import annotations

import json

import pytest

from paperkit.testing import Response, local_http_server
from sami.english import CONCISE_WORDS, english_score, list_items
from sami.judges import ChatJudge, JudgeError, OpenAIBackend, RuleJudge, parse_verdict, win_rates
from sami.toy import toy_score

POS = "1. Use vowels.\n2. Be short."


def test_toy_rule_judge_scores_the_principles() -> None:
    assert toy_score(POS, " a e") == 2.0
    assert toy_score(POS, " b c d f g h j k") == 0.0
    assert toy_score(POS, " a b") == pytest.approx(1.5)
    assert toy_score("1. Use consonants.\n2. Be long.", " b c d f g h j k") == 2.0
    assert toy_score(POS, "") == 0.0


def test_english_rule_judge_prefers_short_lists() -> None:
    short_list = "- boil water\n- add tea\n- wait"
    prose = " ".join(["Tea is a drink that many people enjoy in the morning."] * 6)
    long_list = (
        "- boil the water in a kettle and wait until it bubbles hard\n"
        "- put one tea bag in a cup and pour the hot water over it\n"
        "- wait three or four minutes, then take the bag out and drink"
    )
    assert english_score(short_list) == pytest.approx(0.5 * (1 - 5 / CONCISE_WORDS) + 0.5)  # 5 alphabetic words
    assert english_score(prose) == 0.0  # 66 words, no list
    assert english_score("Boil water and add tea.") == pytest.approx(0.5 * (1 - 5 / CONCISE_WORDS))
    # graded concision: of two lists the shorter one scores higher (a pass/fail limit tied them)
    assert 0.5 < english_score(long_list) < english_score(short_list) < 1.0


def test_english_rule_judge_scores_content_not_list_markers() -> None:
    """The exploits SAMI found on SmolLM2 (session 27) score below a real list: bare numbering, and repeated items."""
    real = "1. Practice mindfulness and meditation 2. Get enough sleep 3. Eat a balanced diet"  # inline numbering
    assert list_items(real) == ["practice mindfulness and meditation", "get enough sleep", "eat a balanced diet"]
    assert english_score("1. 1. 2. 3. 4. 5. 6. 7. 8. 9. 10. 11. 12. 13. 14") == 0.0  # no word: nothing to judge
    assert list_items("- a\n- b\n- c") == [] and english_score("- a\n- b\n- c") == pytest.approx(0.5 * (1 - 3 / 60))
    repeated = "1. Use a blanket. 2. Use a blanket. 3. Use a blanket."
    assert list_items(repeated) == ["use a blanket"]  # counts once: half the list credit
    assert english_score(repeated) < english_score("1. Use a blanket. 2. Wear a hat. 3. Drink tea.")
    assert english_score(real) > english_score("Practice mindfulness and meditation, get enough sleep, eat well.")


def test_win_rates_randomise_the_order_and_count_ties_half() -> None:
    always_a = type("AlwaysA", (), {"compare": lambda self, c, q, a, b: 1.0})()
    n = 400
    rows = win_rates(always_a, [POS] * n, ["q"] * n, ["base"] * n, ["test"] * n, seed=1)
    rate = sum(r[0] for r in rows) / n
    assert 0.4 < rate < 0.6  # a position-biased judge is not a win
    assert rows[0][1:] == [1.0, 1.0]  # [score, len_base, len_test]
    judge = RuleJudge(toy_score)
    rows = win_rates(judge, [POS] * 3, ["q"] * 3, [" b c", " a", " a"], [" a", " b c d", " a"])
    assert [r[0] for r in rows] == [1.0, 0.0, 0.5]


def test_parse_verdict() -> None:
    assert parse_verdict("Comparison: A is shorter.\nFinal Response: A") == 1.0
    assert parse_verdict("Comparison: ...\nFinal Response: **B**") == 0.0
    assert parse_verdict("I cannot decide") == 0.5


def _chat(content: str) -> str:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})


def test_openai_compatible_judge_against_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMI_TEST_KEY", "secret")
    routes = {
        "/v1/chat/completions": Response(_chat("Comparison: B.\nFinal Response: B"), content_type="application/json"),
        "/bad/chat/completions": Response('{"error": "overloaded"}', status=500, content_type="application/json"),
        "/slow/chat/completions": Response(_chat("Final Response: A"), delay_s=1.5, content_type="application/json"),
    }  # fmt: skip
    with local_http_server(routes) as (url, requests):
        judge = ChatJudge(OpenAIBackend(url + "/v1", "gpt-4-0613", api_key_env="SAMI_TEST_KEY", timeout_s=5))
        assert judge.compare(POS, "q w e r", " a", " b") == 0.0
        method, path, body = requests[-1]
        sent = json.loads(body)
        assert method == "POST" and path == "/v1/chat/completions"
        assert sent["model"] == "gpt-4-0613" and sent["temperature"] == 0 and sent["max_tokens"] == 200
        assert "Response A:  a" in sent["messages"][1]["content"] and POS in sent["messages"][1]["content"]
        with pytest.raises(JudgeError, match=r"HTTP 500.*overloaded"):
            OpenAIBackend(url + "/bad", "m", retries=1)("s", "u")
        with pytest.raises(JudgeError, match=r"no answer within 0\.3 s"):
            OpenAIBackend(url + "/slow", "m", timeout_s=0.3, retries=0)("s", "u")


def test_a_local_hf_model_as_the_judge(tiny_lm_dir) -> None:
    from sami.judges import HFBackend
    from sami.module import load_causal_lm

    model, tok = load_causal_lm(str(tiny_lm_dir))
    prompts: list[str] = []

    class Recording(HFBackend):
        def __call__(self, system: str, user: str) -> str:
            prompts.append(user)
            return super().__call__(system, user)

    verdict = ChatJudge(Recording(model, tok, max_new_tokens=4)).compare(POS, "q", " a", " b")
    assert verdict == 0.5  # a random model does not answer "Final Response: A|B": counted as a tie
    assert "Response A:  a" in prompts[0] and "Response B:  b" in prompts[0]


def test_rescore_rejudges_saved_rows_with_both_judges(tmp_path, capsys) -> None:
    from sami.rescore import main as rescore

    rows = [{"base": "1. Boil the water\n2. Add the tea bag", "sami": "1. 1. 2. 3. 4. 5. 6."},
            {"base": "Boil water and add tea, then wait a while.", "sami": "- boil water\n- add tea"}]  # fmt: skip
    (tmp_path / "test_rows.json").write_text(json.dumps(rows))
    res = rescore([str(tmp_path), "--out", str(tmp_path / "r.json")])[str(tmp_path / "test_rows.json")]
    assert res["win_rate_line_judge"] == 1.0  # the old judge prefers bare numbering to a real list
    assert res["win_rate_content_judge"] == 0.5  # the content judge does not: one loss, one win
    assert json.loads((tmp_path / "r.json").read_text())
    from paperkit.errors import run_script

    with pytest.raises(SystemExit) as exc:  # as `python -m sami.rescore` runs it
        run_script(lambda: rescore([str(tmp_path / "nope")]))
    assert exc.value.code == 2 and "nope" in capsys.readouterr().err
    bad = tmp_path / "bad_rows.json"
    for text, words in (
        ('[{"base": "a"}]', "row 0 needs string fields 'base' and 'sami'"),
        ("{not json", "not a JSON"),
    ):
        bad.write_text(text)
        with pytest.raises(SystemExit) as exc:
            run_script(lambda: rescore([str(bad)]))
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "bad_rows.json" in err and words in err and "Traceback" not in err
