"""SenticNet attention-bias graphs of the official code (optional external
knowledge, off by default).

For two words w1 ≠ w2 that both have a SenticNet polarity s: G(w1, w2) = |s1 − s2| · exp(−s1·s2), else 0; every
wordpiece inherits its word's value. ``S_tt`` = G(text, text) (self-attention bias, scaled by γ in the model) and
``G_tk`` = G(text, OCR) (text->OCR bias, scaled by λ1). As in the official code the self graph gets
``[0, 0] = [-1, -1] = 1``. Simplification: only single-word lexicon entries are matched (the official code lets the
longest multi-word entry win).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["load_senticnet", "pair_weight", "sentic_graphs"]


def load_senticnet(path: str | Path, polarity_column: int = 7) -> dict[str, float]:
    """Tab-separated SenticNet export: concept in column 0, polarity value in column 8 (index 7)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("senticnet", path.parent, missing=[path.name], source="https://sentic.net/downloads/")
    lex: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.rstrip("\n").split("\t")
        if len(fields) <= polarity_column:
            continue
        try:
            lex[fields[0].strip().lower().replace(" ", "_")] = float(fields[polarity_column])
        except ValueError:
            continue  # header
    if not lex:
        raise DataFormatError(
            path, "no row with a numeric polarity", expected=f"tab-separated, polarity in column {polarity_column + 1}"
        )
    return lex


def pair_weight(s1: float, s2: float) -> float:
    """G = |s1 − s2| · exp(−s1·s2): large for words of opposite polarity."""
    return abs(s1 - s2) * math.exp(-s1 * s2)


def _token_words(tokenizer, text: str, length: int) -> list[str | None]:
    enc = tokenizer(text, truncation=True, max_length=length)
    words: list[str | None] = []
    for w in enc.word_ids():
        if w is None:
            words.append(None)
        else:
            span = enc.word_to_chars(w)
            words.append(text[span.start : span.end].lower())
    return words + [None] * (length - len(words))


def _graph(a: list[str | None], b: list[str | None], lex: dict[str, float]) -> torch.Tensor:
    g = torch.zeros(len(a), len(b))
    for i, wa in enumerate(a):
        if wa is None or wa not in lex:
            continue
        for j, wb in enumerate(b):
            if wb is not None and wb != wa and wb in lex:
                g[i, j] = pair_weight(lex[wa], lex[wb])
    return g


def sentic_graphs(
    tokenizer, texts: list[str], ocrs: list[str], lex: dict[str, float], text_len: int, ocr_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, Lt, Lt) self graphs and (N, Lt, Lk) text-OCR graphs aligned with the padded token positions."""
    selfs, crosses = [], []
    for text, ocr in zip(texts, ocrs):
        tw, ow = _token_words(tokenizer, text, text_len), _token_words(tokenizer, ocr, ocr_len)
        s = _graph(tw, tw, lex)
        s[0, 0] = s[-1, -1] = 1.0
        selfs.append(s)
        crosses.append(_graph(tw, ow, lex))
    return torch.stack(selfs), torch.stack(crosses)
