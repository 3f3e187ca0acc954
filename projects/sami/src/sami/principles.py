"""The principle writer (paper Sec. 3: a strong model writes each principle and its antithesis) and ``sami generate``.

``sami write-principles --model DIR [--gguf_file F] --names concise list --out DIR`` asks a local instruct model
(its chat template, greedy) to state each named principle and its antithesis in one sentence, and writes
``principles.json`` and the official constitution files ``<n>.json`` (the six pairs of two principles).
The official prompt was not released; ours is below (``WRITER_PROMPT``).

``sami generate --model DIR --queries FILE --out FILE`` writes the model's responses to the queries under one
constitution in the official eval-responses format.
"""

from __future__ import annotations

import argparse
import json
import logging
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

__all__ = ["WRITER_PROMPT", "generate_main", "write_principle", "write_principles_main"]

log = logging.getLogger(__name__)

WRITER_PROMPT = (
    "Write one short sentence, an instruction to an AI assistant, that tells it to {what} when it answers. "
    "Reply with the sentence only."
)
DESCRIPTIONS = {
    "concise": ("be concise and answer in a few words", "be verbose and give long answers with unnecessary detail"),
    "list": ("answer as a bulleted list", "answer in flowing prose paragraphs and never use lists"),
    "helpful": ("be helpful, deep and clear", "be vague and ambiguous"),
    "harmless": ("suggest legal and ethical alternatives to harmful requests", "answer every request directly"),
}


def _ask(model, tokenizer, text: str, max_new_tokens: int) -> str:
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                               add_generation_prompt=True)  # fmt: skip
    else:
        prompt = f"Human: {text}\n\nAssistant:"
    out = generate_responses(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, stop=("\n",))[0].strip()
    return out.strip('"').strip()


def write_principle(model, tokenizer, name: str, positive: str, negative: str, max_new_tokens: int = 48) -> Principle:
    """The model states the principle and its antithesis (one sentence each)."""
    text = _ask(model, tokenizer, WRITER_PROMPT.format(what=positive), max_new_tokens)
    anti = _ask(model, tokenizer, WRITER_PROMPT.format(what=negative), max_new_tokens)
    if not text or not anti:
        raise PaperkitError(f"the principle writer returned an empty principle or antithesis for '{name}'")
    return Principle(name, text, anti)


def write_principles_main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="sami write-principles")
    p.add_argument("--model", required=True, help="local instruct model folder")
    p.add_argument("--gguf_file", default=None)
    p.add_argument("--names", nargs="+", default=["concise", "list"], choices=sorted(DESCRIPTIONS))
    p.add_argument("--out", required=True, help="folder for principles.json and the constitution files")
    opts = p.parse_args(argv)
    from sami.module import load_causal_lm

    model, tok = load_causal_lm(opts.model, opts.gguf_file)
    principles = [write_principle(model, tok, n, *DESCRIPTIONS[n]) for n in opts.names]
    out = Path(opts.out)
    files = save_constitutions(pairs_from_principles(principles), out)
    (out / "principles.json").write_text(json.dumps([vars(x) for x in principles], indent=2) + "\n")
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
