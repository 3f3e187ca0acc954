"""SenticNet attention-bias graphs (official knowledge input, optional): the pair formula and token alignment."""

from __future__ import annotations

import math

import pytest
from transformers import AutoTokenizer

from clfa.sentic import load_senticnet, pair_weight, sentic_graphs
from paperkit.errors import DataFormatError

from .helpers import save_tiny_bert_tokenizer


def _lexicon(path, rows):
    header = "CONCEPT\tc1\tc2\tc3\tc4\tc5\tc6\tPOLARITY_VALUE"
    path.write_text("\n".join([header, *(f"{w}\tx\tx\tx\tx\tx\tx\t{s}" for w, s in rows)]) + "\n")
    return path


def test_pair_weight_by_hand() -> None:
    assert pair_weight(0.8, -0.5) == pytest.approx(1.3 * math.exp(0.4))
    assert pair_weight(0.5, 0.5) == 0.0


def test_graphs_align_with_wordpieces(tmp_path) -> None:
    lex = load_senticnet(_lexicon(tmp_path / "sn.txt", [("love", 0.8), ("rain", -0.5), ("great", 0.9)]))
    tok = AutoTokenizer.from_pretrained(save_tiny_bert_tokenizer(tmp_path / "tok"))
    s, k = sentic_graphs(tok, ["love the rain"], ["great day"], lex, text_len=6, ocr_len=4)
    assert s.shape == (1, 6, 6) and k.shape == (1, 6, 4)
    # tokens: [CLS] love the rain [SEP] [PAD]
    assert s[0, 1, 3] == pytest.approx(pair_weight(0.8, -0.5)) and s[0, 3, 1] == s[0, 1, 3]
    assert s[0, 1, 2] == 0 and s[0, 1, 1] == 0  # 'the' not in the lexicon; no self pairs
    assert s[0, 0, 0] == 1 and s[0, -1, -1] == 1  # official convention
    assert k[0, 3, 1] == pytest.approx(pair_weight(-0.5, 0.9))  # rain vs great (OCR position 1)


def test_bad_lexicon(tmp_path) -> None:
    (tmp_path / "bad.txt").write_text("just\ttwo\n")
    with pytest.raises(DataFormatError):
        load_senticnet(tmp_path / "bad.txt")
