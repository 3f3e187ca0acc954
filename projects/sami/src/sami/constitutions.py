"""Principles, antitheses and constitutions in the official JSON format (paper Sec. 3, "Constitutions").

A principle has a positive phrasing and an antithesis. A constitution is a numbered list of principles
("1. ...\\n2. ..."). The official files hold one *pair* each::

    {"positive": "1. <p1>\\n2. <p2>", "negative": "1. <not p1>\\n2. <p2>",
     "identifiers": {"positive": ["pos concise", "pos comprehensive"],
                     "negative": ["neg concise", "pos comprehensive"]}}

With two principles the official scheme has six pairs: the negative negates the first, the second or both principles,
each in the two principle orders. Per query one pair is drawn, so C = 2 constitutions (and responses) per query.
For the mutual-information estimate every combination of (principle | antithesis) is used (2^k constitutions).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError

__all__ = [
    "CHAT_SYSTEM",
    "DEFAULT_TEMPLATE",
    "ConstitutionPair",
    "Principle",
    "all_constitutions",
    "format_chat_prompt",
    "format_prompt",
    "load_constitutions",
    "number_principles",
    "pairs_from_principles",
    "save_constitutions",
    "shuffle_principles",
    "split_principles",
]

# The prompt the policy sees (generation and training): the constitution, then the query.
# With --data.chat_template true (instruct models): the system turn of the model's own chat template.
CHAT_SYSTEM = (
    "Write a response for the assistant that follows the principles in the constitution.\n\n"
    "Constitution:\n{constitution}"
)
DEFAULT_TEMPLATE = (
    "System: Write a response for the assistant that follows the principles in the constitution.\n\n"
    "Constitution:\n{constitution}\n\nHuman: {query}\n\nAssistant:"
)


@dataclass(frozen=True)
class Principle:
    """One principle: a short name (used in identifiers), its text and its antithesis."""

    name: str
    text: str
    antithesis: str


@dataclass(frozen=True)
class ConstitutionPair:
    """A positive constitution and one negative (partly negated) version, with their identifiers."""

    positive: str
    negative: str
    identifiers: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"positive": self.positive, "negative": self.negative, "identifiers": self.identifiers}


def number_principles(principles: Sequence[str]) -> str:
    """``["a", "b"]`` -> ``"1. a\\n2. b"``."""
    return "\n".join(f"{k + 1}. {p}" for k, p in enumerate(principles))


def split_principles(constitution: str) -> list[str]:
    """Inverse of :func:`number_principles`: one principle per line, the ``"N. "`` prefix removed."""
    out = []
    for line in constitution.split("\n"):
        line = line.strip()
        if not line:
            continue
        head, sep, rest = line.partition(". ")
        out.append(rest if sep and head.isdigit() else line)
    return out


def shuffle_principles(constitution: str, rng: random.Random) -> str:
    """The training prompt's constitution: the same principles in a random order, renumbered."""
    items = split_principles(constitution)
    rng.shuffle(items)
    return number_principles(items)


def format_prompt(template: str, constitution: str, query: str) -> str:
    return template.replace("{constitution}", constitution).replace("{query}", query)


def format_chat_prompt(tokenizer: Any, constitution: str, query: str, system: str = CHAT_SYSTEM) -> str:
    """The prompt in the model's own chat format: the constitution in the system turn, the query as the user turn,
    then the assistant's turn opened (``add_generation_prompt``). A BOS that the tokenizer adds by itself is not
    repeated in the text."""
    if not getattr(tokenizer, "chat_template", None):
        raise PaperkitError("--data.chat_template true: this tokenizer has no chat template (use a plain template)")
    messages = [{"role": "system", "content": system.replace("{constitution}", constitution)},
                {"role": "user", "content": query}]  # fmt: skip
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and tokenizer("")["input_ids"][:1] == [tokenizer.bos_token_id]:
        text = text[len(bos) :]
    return text


def _negations(k: int) -> list[tuple[bool, ...]]:
    """Every negation pattern, none first, then by the number negated, the first principle before the second."""
    return sorted(itertools.product([False, True], repeat=k), key=lambda n: (sum(n), [not x for x in n]))


def _variant(principles: Sequence[Principle], negate: Sequence[bool]) -> tuple[str, list[str]]:
    texts = [p.antithesis if n else p.text for p, n in zip(principles, negate)]
    ids = [f"{'neg' if n else 'pos'} {p.name}" for p, n in zip(principles, negate)]
    return number_principles(texts), ids


def pairs_from_principles(principles: Sequence[Principle]) -> list[ConstitutionPair]:
    """The official pairs: for every non-empty set of negated principles and every principle order, the positive
    constitution (all principles) and that negative (3 negatives x 2 orders = 6 pairs for two principles)."""
    k = len(principles)
    pairs = []
    for negate in _negations(k)[1:]:
        for order in itertools.permutations(range(k)):
            ps = [principles[o] for o in order]
            neg = [negate[o] for o in order]
            pos_text, pos_ids = _variant(ps, [False] * k)
            neg_text, neg_ids = _variant(ps, neg)
            pairs.append(ConstitutionPair(pos_text, neg_text, {"positive": pos_ids, "negative": neg_ids}))
    return pairs


def all_constitutions(principles: Sequence[Principle]) -> list[tuple[str, list[str]]]:
    """Every (principle | antithesis) combination in the given principle order, the positive one first: the
    constitutions of the mutual-information estimate."""
    return [_variant(principles, negate) for negate in _negations(len(principles))]


def _pair_from_json(obj: object, path: Path, key: str) -> ConstitutionPair:
    expected = 'an object {"positive": "1. ...", "negative": "1. ...", "identifiers": {...}}'
    if not isinstance(obj, dict):
        raise DataFormatError(path, f"entry {key!r} is a {type(obj).__name__}, not a constitution", expected=expected)
    for name in ("positive", "negative"):
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            what = "has no negative constitution" if name == "negative" else "has no positive constitution"
            raise DataFormatError(path, f"entry {key!r} {what} (key {name!r} missing or empty)", expected=expected)
    ids = obj.get("identifiers") or {}
    if not isinstance(ids, dict):
        raise DataFormatError(path, f"entry {key!r}: 'identifiers' is not an object", expected=expected)
    return ConstitutionPair(obj["positive"], obj["negative"], {k: list(v) for k, v in ids.items()})


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFormatError(path, f"not a JSON file ({err.__class__.__name__}: {err})") from None


def load_constitutions(path: str | Path) -> list[ConstitutionPair]:
    """Official constitution files: a folder of ``<n>.json`` (one pair each, numeric order), one such file, or a
    JSON list of pairs."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"), key=lambda p: (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit() else 0,
                                                            p.name))  # fmt: skip
        if any(f.stem.isdigit() for f in files):  # the official numbering; other JSON beside it (the writer's
            files = [f for f in files if f.stem.isdigit()]  # principles.json) is not a constitution
        if not files:
            raise DataNotFoundError("constitutions", path, missing=["0.json"], expected=["0.json", "1.json", "..."])
        return [_pair_from_json(_read_json(f), f, f.name) for f in files]
    if not path.is_file():
        raise DataNotFoundError("constitutions", path.parent, missing=[path.name], expected=["0.json", "1.json"])
    obj = _read_json(path)
    if isinstance(obj, list):
        if not obj:
            raise DataFormatError(path, "the list of constitutions is empty")
        return [_pair_from_json(o, path, f"[{k}]") for k, o in enumerate(obj)]
    return [_pair_from_json(obj, path, path.name)]


def save_constitutions(pairs: Sequence[ConstitutionPair], folder: str | Path) -> list[Path]:
    """Write ``<folder>/<n>.json`` in the official format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, pair in enumerate(pairs):
        p = folder / f"{k}.json"
        p.write_text(json.dumps(pair.to_json(), indent=2) + "\n", encoding="utf-8")
        out.append(p)
    return out
