"""The principle writer (paper Sec. 3: a strong model writes each principle and its antithesis) and ``sami generate``.

``sami write-principles --model DIR [--gguf_file F] --names concise list --out DIR`` asks a local instruct model
(its chat template, one worked example turn first: ``WRITER_EXAMPLE``) to state each named principle and its
antithesis in one sentence, and writes ``principles.json`` and the official constitution files ``<n>.json`` (the six
pairs of two principles). The official prompt was not released; ours is below (``WRITER_PROMPT``).

A small model often answers off the point ("Awesome, I'm ready."), so each sentence is checked
(:func:`principle_ok`: 4-30 words, names its property by one of ``KEYWORDS``, not in the first person, not equal to
the other side) and the writer tries again, greedy first, then up to ``--attempts - 1`` samples at T = 0.8; every
attempt is recorded in ``principles.json``. If no attempt passes it is an error, never a silent fallback.

``sami generate --model DIR --queries FILE --out FILE`` writes the model's responses to the queries under one
constitution in the official eval-responses format.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from paperkit.errors import PaperkitError
from sami.constitutions import (
    DEFAULT_TEMPLATE,
    Principle,
    format_prompt,
    load_constitutions,
    pairs_from_principles,
    save_constitutions,
)
from sami.formats import load_queries, save_eval_responses
from sami.generation import generate_responses, generate_responses_vllm

__all__ = ["KEYWORDS", "WRITER_PROMPT", "generate_main", "principle_ok", "write_principle", "write_principles_main"]

log = logging.getLogger(__name__)

WRITER_PROMPT = (
    "Write one short sentence, an instruction to an AI assistant, that tells it to {what} when it answers. "
    "Reply with the sentence only."
)
WRITER_EXAMPLE = ("be polite", "Always answer politely and respectfully.")
DESCRIPTIONS = {
    "concise": ("be concise and answer in a few words", "be verbose and give long answers with unnecessary detail"),
    "list": ("answer as a bulleted list", "answer in flowing prose paragraphs and never use lists"),
    "helpful": ("be helpful, deep and clear", "be vague and ambiguous"),
    "harmless": ("suggest legal and ethical alternatives to harmful requests", "answer every request directly"),
}


# words that a sentence stating the principle (first) or its antithesis (second) must contain one of
KEYWORDS = {
    "concise": (("concise", "brief", "short", "few words", "succinct"), ("verbose", "long", "detail", "lengthy")),
    "list": (("list", "bullet"), ("prose", "paragraph")),
    "helpful": (("helpful", "clear", "deep"), ("vague", "ambiguous", "unclear")),
    "harmless": (("legal", "ethical", "harm"), ("directly", "every request")),
}
_FIRST_PERSON = ("i'm", "i am", "i will", "i'll", "i can", "my ")
_NEGATIONS = re.compile(r"\b(?:no|not|never|avoid|avoiding|don't|do not|without|nor)\b")


def principle_ok(text: str, keywords: tuple[str, ...], other: str | None = None,
                 opposite: tuple[str, ...] = ()) -> bool:  # fmt: skip
    """A usable principle sentence: 4-30 words, names its property (one of ``keywords``), addresses the assistant
    rather than speaking as it (no first person), differs from the other side's sentence, and does not turn into its
    own antithesis: every negation must be followed by one of the ``opposite`` side's words ("avoid using lists" in
    the prose principle passes, "being verbose is an absolute no" as the verbose principle fails), and an opposite
    word may only appear after a negation ("give concise answers" as the verbose principle fails)."""
    low = f" {text.lower()} "
    if not (4 <= len(text.split()) <= 30 and any(k in low for k in keywords) and text != other):
        return False
    if any(f" {p}" in low for p in _FIRST_PERSON):
        return False
    negs = [m.start() for m in _NEGATIONS.finditer(low)]
    if any(not any(o in low[n:] for o in opposite) for n in negs):
        return False
    return all(negs and min(negs) < low.index(o) for o in opposite if o in low)


def _ask(model, tokenizer, what: str, max_new_tokens: int, temperature: float = 0.0, seed: int = 0) -> str:
    ex_what, ex_answer = WRITER_EXAMPLE
    turns = [{"role": "user", "content": WRITER_PROMPT.format(what=ex_what)},
             {"role": "assistant", "content": ex_answer},
             {"role": "user", "content": WRITER_PROMPT.format(what=what)}]  # fmt: skip
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    else:
        prompt = "".join(f"{'Human' if t['role'] == 'user' else 'Assistant'}: {t['content']}\n\n" for t in turns)
        prompt += "Assistant:"
    out = generate_responses(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, stop=("\n",),
                             temperature=temperature, seed=seed)[0].strip()  # fmt: skip
    return out.strip('"').strip()


def _write_one(model, tokenizer, what: str, keywords: tuple[str, ...], opposite: tuple[str, ...], other: str | None,
               attempts: int, max_new_tokens: int, tried: list[str]) -> str | None:  # fmt: skip
    for k in range(attempts):
        text = _ask(model, tokenizer, what, max_new_tokens, temperature=0.0 if k == 0 else 0.8, seed=k)
        tried.append(text)
        if principle_ok(text, keywords, other, opposite):
            return text
    return None


def write_principle(model, tokenizer, name: str, positive: str, negative: str, max_new_tokens: int = 48,
                    attempts: int = 8) -> tuple[Principle, dict[str, list[str]]]:  # fmt: skip
    """The model states the principle and its antithesis (one sentence each), each checked by :func:`principle_ok`
    and retried (greedy, then sampled); returns the principle and every attempt."""
    pos_kw, neg_kw = KEYWORDS[name]
    tried: dict[str, list[str]] = {"principle": [], "antithesis": []}
    text = _write_one(model, tokenizer, positive, pos_kw, neg_kw, None, attempts, max_new_tokens, tried["principle"])
    anti = None
    if text is not None:
        anti = _write_one(
            model, tokenizer, negative, neg_kw, pos_kw, text, attempts, max_new_tokens, tried["antithesis"]
        )
    if text is None or anti is None:
        side = "principle" if text is None else "antithesis"
        raise PaperkitError(
            f"the principle writer wrote no usable {side} for '{name}' in {attempts} attempts (a sentence of 4-30 "
            f"words naming one of {list(pos_kw if text is None else neg_kw)}, not in the first person); the last "
            f"attempt was {tried[side][-1]!r}. Try more --attempts or a stronger --model, or write the "
            "principles yourself (a constitution folder for --data.constitutions)."
        )
    return Principle(name, text, anti), tried


def write_principles_main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="sami write-principles")
    p.add_argument("--model", required=True, help="local instruct model folder")
    p.add_argument("--gguf_file", default=None)
    p.add_argument("--names", nargs="+", default=["concise", "list"], choices=sorted(DESCRIPTIONS))
    p.add_argument("--out", required=True, help="folder for principles.json and the constitution files")
    p.add_argument("--attempts", type=int, default=8, help="tries per sentence (greedy, then sampled at T = 0.8)")
    p.add_argument("--eos_token", default=None, help="override a wrong EOS (SmolLM2's GGUF: <|im_end|>)")
    opts = p.parse_args(argv)
    if opts.attempts < 1:
        p.error(f"--attempts must be at least 1, got {opts.attempts}")
    from sami.module import load_causal_lm, set_eos_token

    model, tok = load_causal_lm(opts.model, opts.gguf_file)
    if opts.eos_token:
        set_eos_token(model, tok, opts.eos_token)
    written = [write_principle(model, tok, n, *DESCRIPTIONS[n], attempts=opts.attempts) for n in opts.names]
    principles = [x for x, _ in written]
    out = Path(opts.out)
    files = save_constitutions(pairs_from_principles(principles), out)
    record = [{**vars(x), "attempts": tried} for x, tried in written]
    (out / "principles.json").write_text(json.dumps(record, indent=2) + "\n")
    for x in principles:
        log.info("%s: %r / antithesis %r", x.name, x.text, x.antithesis)
    return {"principles": [vars(x) for x in principles], "files": [str(f) for f in files]}


def generate_main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="sami generate")
    p.add_argument("--model", required=True, help="local model folder (e.g. runs/sami/version_0/hf_model)")
    p.add_argument("--gguf_file", default=None)
    p.add_argument("--queries", required=True, help="JSON list of queries, TL;DR or HH rows (--query_source)")
    p.add_argument("--query_source", choices=["queries", "tldr", "hh"], default="queries")
    p.add_argument("--constitution", default=None, help="a constitution file (its positive) or the text itself")
    p.add_argument("--template", default=DEFAULT_TEMPLATE)
    p.add_argument("--max_new_tokens", type=int, default=350)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf", help="vllm: optional, needs vLLM and a GPU")
    p.add_argument("--out", required=True)
    opts = p.parse_args(argv)
    from sami.module import load_causal_lm

    queries = load_queries(opts.queries, opts.query_source)
    cons = opts.constitution or ""
    if cons.endswith(".json"):
        cons = load_constitutions(cons)[0].positive
    prompts = [format_prompt(opts.template, cons, q) for q in queries]
    if opts.backend == "vllm":
        if opts.gguf_file:
            raise PaperkitError("--backend vllm reads a Hugging Face model folder: drop --gguf_file, or --backend hf")
        texts = generate_responses_vllm(opts.model, prompts, max_new_tokens=opts.max_new_tokens,
                                        temperature=opts.temperature, seed=0)  # fmt: skip
    else:
        model, tok = load_causal_lm(opts.model, opts.gguf_file)
        texts = generate_responses(model, tok, prompts, max_new_tokens=opts.max_new_tokens,
                                   temperature=opts.temperature, batch_size=opts.batch_size, seed=0)  # fmt: skip
    path = save_eval_responses([cons] * len(queries), queries, texts, opts.out)
    log.info("responses written to %s", path)
    return {"out": str(path), "responses": texts}
