"""Rule syntax (spec §3, §7): literals, probabilistic rules ``head <- b1, not b2 : p``, exact probabilities.

``p`` is parsed exactly as a ``Fraction`` (``0.8`` -> 4/5, ``"1/3"``, ``"80%"``) or as an interval ``[lo, hi]``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["Literal", "Rule", "format_fraction", "parse_literal", "parse_probability", "parse_rule", "to_fraction"]

_ATOM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEG = ("not ", "~", "¬", "!", "-")
_ARROWS = ("<-", "←", ":-")


@dataclass(frozen=True, order=True)
class Literal:
    """An atom or its negation."""

    atom: str
    positive: bool = True

    def __str__(self) -> str:
        return self.atom if self.positive else f"not {self.atom}"


@dataclass(frozen=True)
class Rule:
    """``P(head | body) ∈ [lo, hi]`` (``lo == hi`` for a point probability). ``body == ()`` states ``P(head)``."""

    head: Literal
    body: tuple[Literal, ...]
    lo: Fraction
    hi: Fraction
    line: int | None = None
    index: int = 0

    @property
    def is_point(self) -> bool:
        return self.lo == self.hi

    @property
    def atoms(self) -> frozenset[str]:
        return frozenset([self.head.atom, *(b.atom for b in self.body)])

    def prob_text(self) -> str:
        if self.is_point:
            return format_fraction(self.lo)
        return f"[{format_fraction(self.lo)}, {format_fraction(self.hi)}]"

    def __str__(self) -> str:
        body = ", ".join(map(str, self.body))
        return f"{self.head} <- {body} : {self.prob_text()}" if body else f"{self.head} <- : {self.prob_text()}"


def format_fraction(x: Fraction) -> str:
    """Exact text: a short decimal when the fraction has one (4/5 -> '0.8'), else 'p/q'."""
    x = Fraction(x)
    d = x.denominator
    k = 0
    while d % 2 == 0 or d % 5 == 0:
        d //= 2 if d % 2 == 0 else 5
        k += 1
    if d == 1 and k <= 12:
        s = f"{x.numerator / x.denominator:.{max(k, 1)}f}" if k else str(x.numerator)
        if Fraction(s) == x:
            return s.rstrip("0").rstrip(".") if "." in s else s
    return f"{x.numerator}/{x.denominator}"


def to_fraction(v: Any, what: str) -> Fraction:
    if isinstance(v, bool):
        raise ValueError(f"{what} must be a number, got {v!r}")
    if isinstance(v, int):
        return Fraction(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{what} must be finite, got {v!r}")
        return Fraction(repr(v))  # 0.8 -> 4/5 exactly (the decimal the user wrote)
    if isinstance(v, str):
        s = v.strip()
        try:
            if s.endswith("%"):
                return Fraction(s[:-1].strip()) / 100
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{what} '{v}' is not a number or fraction") from None
    raise ValueError(f"{what} must be a number or fraction, got {type(v).__name__} {v!r}")


def parse_probability(v: Any) -> tuple[Fraction, Fraction]:
    """``0.8``, ``"4/5"``, ``"80%"``, ``[0.7, 0.9]`` or ``"[0.7, 0.9]"`` -> (lo, hi), checked to lie in [0, 1]."""
    if isinstance(v, str) and v.strip().startswith("["):
        s = v.strip()
        if not s.endswith("]"):
            raise ValueError(f"interval '{v}' must look like [lo, hi]")
        v = [p.strip() for p in s[1:-1].split(",")]
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise ValueError(f"a probability interval needs exactly two bounds [lo, hi], got {list(v)!r}")
        lo, hi = (to_fraction(x, "probability bound") for x in v)
        if lo > hi:
            raise ValueError(f"interval [{format_fraction(lo)}, {format_fraction(hi)}] has lo > hi")
    else:
        lo = hi = to_fraction(v, "probability")
    for x in (lo, hi):
        if not 0 <= x <= 1:
            raise ValueError(f"probability {format_fraction(x)} is outside [0, 1]")
    return lo, hi


def parse_literal(text: str) -> Literal:
    """``a``, ``not a``, ``~a``, ``¬a``, ``!a`` -> Literal."""
    s = str(text).strip()
    positive = True
    changed = True
    while changed:
        changed = False
        for neg in _NEG:
            if s.startswith(neg):
                s, positive, changed = s[len(neg) :].strip(), not positive, True
    if not _ATOM.match(s):
        raise ValueError(f"'{text}' is not a valid atom (letters, digits, _; starting with a letter or _)")
    if s == "not":
        raise ValueError("'not' is reserved")
    return Literal(s, positive)


def parse_rule(item: Any, *, index: int = 0, line: int | None = None) -> Rule:
    """A rule from a string ``head <- b1, not b2 : p`` or a mapping ``{head, body, p}``.

    YAML reads an unquoted ``- a <- b : 0.8`` as the one-key mapping ``{"a <- b": 0.8}``; that is accepted too.
    """
    if isinstance(item, dict) and len(item) == 1 and not ({"head", "body", "p"} & set(item)):
        ((k, v),) = item.items()
        item = {"_text": str(k), "p": v}
    if isinstance(item, str):
        text = item.strip()
        if ":" not in text.replace(":-", "\0"):
            raise ValueError("missing ': p' (write 'head <- body : p')")
        cut = text.replace(":-", "\0\0").rfind(":")
        item = {"_text": text[:cut], "p": text[cut + 1 :].strip()}
    if not isinstance(item, dict):
        raise ValueError(f"a rule must be a string 'head <- body : p' or a mapping {{head, body, p}}, got {item!r}")
    if "_text" in item:
        lhs = item["_text"].strip()
        for arrow in _ARROWS:
            if arrow in lhs:
                head_s, body_s = lhs.split(arrow, 1)
                break
        else:
            head_s, body_s = lhs, ""
        body_items = [b for b in (x.strip() for x in body_s.split(",")) if b]
        if body_s.strip() and len(body_items) != len(body_s.split(",")):
            raise ValueError("empty body literal (stray comma)")
    else:
        unknown = set(item) - {"head", "body", "p"}
        if unknown:
            raise ValueError(f"unknown rule key(s) {sorted(unknown)}; a rule mapping has head, body, p")
        if "head" not in item or "p" not in item:
            raise ValueError("a rule mapping needs 'head' and 'p' (and optionally 'body')")
        head_s = item["head"]
        body_raw = item.get("body") or []
        if not isinstance(body_raw, str | list | tuple):
            raise ValueError(f"'body' must be a list of literals, got {body_raw!r}")
        body_items = [body_raw] if isinstance(body_raw, str) else list(body_raw)
    if "p" not in item or item["p"] is None or item["p"] == "":
        raise ValueError("missing probability p")
    head = parse_literal(str(head_s))
    body: list[Literal] = []
    for b in body_items:
        lit = parse_literal(str(b))
        if lit not in body:
            body.append(lit)
    atoms_pos = {(b.atom, b.positive) for b in body}
    for a, pos in atoms_pos:
        if (a, not pos) in atoms_pos and pos:
            raise ValueError(f"body contains both {a} and not {a}, so the rule can never apply")
    lo, hi = parse_probability(item["p"])
    return Rule(head, tuple(body), lo, hi, line=line, index=index)
