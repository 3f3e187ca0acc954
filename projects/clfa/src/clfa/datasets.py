"""Real-format loaders of the paper's datasets (paper Sec. 4.1): MMSD, MMSD2.0, MVSA-Single/-Multiple.

Each loader returns a list of :class:`Example` (id, text, label, image path, OCR text) for one split and raises
:class:`~paperkit.errors.DataNotFoundError` / :class:`~paperkit.errors.DataFormatError` with the expected layout.

* ``mmsd`` (Cai et al. 2019, the CLFA release): ``<root>/{train,valid,test}.txt``, one Python-literal list per line
  ``[tweet_id, text, ocr_text, label]`` (``[tweet_id, text, label]`` without OCR is accepted too), images
  ``<image_dir>/{id}.jpg``; the protocol's keyword filter drops examples whose whitespace tokens include a
  sarcasm-revealing word, matched exactly and case-sensitively as the official preprocessing does
  (``keyword_match="lower"`` also drops "Sarcasm" / "IRONY").
* ``mmsd2`` (Qin et al. 2023): ``<root>/text_json_final/{train,valid,test}.json``, a JSON list of
  ``{"image_id", "text", "label"}``; images ``<image_dir>/{image_id}.jpg``. ``text="clean"`` reads the release's
  ``text_json_clean/{valid,test}.json`` (it ships no clean training split: training stays on ``text_json_final``).
* ``mvsa_single`` / ``mvsa_multiple`` (Niu et al. 2016): ``<root>/data/<id>.{txt,jpg}`` and either
  ``<root>/labelResultAll.txt`` (header, then ``id<TAB>text_label,image_label`` with one pair per annotator; cleaning:
  per annotator, equal labels are kept, a neutral + polar pair becomes the polar label, positive + negative is dropped;
  MVSA-Multiple keeps the majority (≥ 2 of 3) label) or the CLFA release's aggregated ``aggregate_label.txt``
  (``id<TAB>label``, 0 positive, 1 negative, 2 neutral), which takes precedence. The split is the official one by
  default (per class, 80/10/10 in file order, CLFA's ``split_train_test.py``); ``split="shuffle"`` is a seeded 8:1:1
  shuffle. It is stored in ``<root>/clfa_split_<key>.json``, keyed by the label file's bytes and every cleaning and
  split setting, so a changed setting never reuses an old split. The loaded counts are checked against the
  published ones (a warning names the difference); a missing ``<id>.txt`` is counted and reported.
"""

from __future__ import annotations

import ast
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from paperkit.errors import DataFormatError, DataNotFoundError
from paperkit.featcache import digest, file_digest

__all__ = [
    "MMSD_KEYWORDS",
    "MVSA_LABELS",
    "Example",
    "keyword_filter",
    "load_mmsd",
    "load_mmsd2",
    "load_mvsa",
    "resolve_mvsa_label",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
# Cai et al. (2019) protocol: drop tweets containing these whitespace tokens (all splits, test included).
MMSD_KEYWORDS = frozenset(
    {"sarcasm", "sarcastic", "reposting", "<url>", "joke", "jokes", "humour", "humor", "irony", "ironic", "exgag"}
)
MVSA_LABELS = ("positive", "negative", "neutral")
# Sizes after the usual cleaning, as commonly reported in the MVSA literature (checked against by a warning only).
MVSA_PUBLISHED = {"mvsa_single": 4511, "mvsa_multiple": 17024}
KeywordMatch = Literal["exact", "lower"]
MVSASplit = Literal["official", "shuffle"]
MMSD2Text = Literal["final", "clean"]
MMSD_SOURCE = "https://github.com/headacheboy/data-of-multimodal-sarcasm-detection (CLFA's OCR lists: ChangKe123/CLFA)"
MMSD2_SOURCE = "https://github.com/JoeYing1019/MMSD2.0"
MVSA_SOURCE = "https://mcrlab.net/research/mvsa-sentiment-analysis-on-multi-view-social-data/"


@dataclass
class Example:
    """One tweet: id, text, integer label, image file and (optional) OCR text."""

    id: str
    text: str
    label: int
    image: Path
    ocr: str = ""


def keyword_filter(
    examples: list[Example], keywords: frozenset[str] = MMSD_KEYWORDS, match: KeywordMatch = "exact"
) -> list[Example]:
    """Drop examples whose whitespace tokens include a protocol keyword: ``exact`` (case-sensitive, the official
    preprocessing) or ``lower`` (tokens lower-cased first)."""
    norm = str.lower if match == "lower" else str
    return [e for e in examples if not keywords.intersection(norm(t) for t in e.text.split())]


def _require(dataset: str, root: Path, files: list[Path], expected: dict, source: str) -> None:
    missing = [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files if not f.exists()]
    if missing:
        raise DataNotFoundError(dataset, root, missing=missing, expected=expected, source=source)


def load_mmsd(
    root: str | Path,
    split: str,
    image_dir: str | Path | None = None,
    filter_keywords: bool = True,
    keyword_match: KeywordMatch = "exact",
) -> list[Example]:
    """MMSD (CLFA release): ``[id, text, ocr, label]`` Python-literal lines -> list of :class:`Example`."""
    root = Path(root)
    images = Path(image_dir) if image_dir else root / "dataset_image"
    path = root / f"{split}.txt"
    expected = {**{f"{s}.txt": None for s in SPLITS}, "dataset_image": ["<id>.jpg", "..."]}
    _require("mmsd", root, [path, images], expected, MMSD_SOURCE)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = ast.literal_eval(line.strip())
            if len(row) == 4:
                tid, text, ocr, label = row
            elif len(row) == 3:
                (tid, text, label), ocr = row, ""
            else:
                raise ValueError(f"{len(row)} fields")
            out.append(Example(str(tid), str(text), int(label), images / f"{tid}.jpg", str(ocr or "")))
        except (ValueError, SyntaxError, TypeError) as err:
            raise DataFormatError(
                path, f"line {n} is not a Python list [id, text, ocr, label] ({err})", source=MMSD_SOURCE
            ) from None
    return keyword_filter(out, match=keyword_match) if filter_keywords else out


def load_mmsd2(
    root: str | Path, split: str, image_dir: str | Path | None = None, text: MMSD2Text = "final"
) -> list[Example]:
    """MMSD2.0: ``text_json_<text>/<split>.json`` list of {image_id, text, label} -> list of :class:`Example`.

    ``text="clean"`` reads ``text_json_clean`` for valid/test (the release has no clean train split: train is read
    from ``text_json_final``). An optional ``"ocr"`` key (not in the official release; the synthetic data may write
    it) fills the OCR field; other keys (the clean files' ``"1"``) are ignored.
    """
    root = Path(root)
    images = Path(image_dir) if image_dir else root / "dataset_image"
    folder = "text_json_clean" if text == "clean" and split != "train" else "text_json_final"
    path = root / folder / f"{split}.json"
    expected = {"text_json_final": [f"{s}.json" for s in SPLITS], "dataset_image": ["<image_id>.jpg", "..."]}
    if text == "clean":
        expected["text_json_clean"] = ["valid.json", "test.json"]
    _require("mmsd2", root, [path, images], expected, MMSD2_SOURCE)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [
            Example(
                str(r["image_id"]), str(r["text"]), int(r["label"]), images / f"{r['image_id']}.jpg", r.get("ocr", "")
            )
            for r in rows
        ]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise DataFormatError(
            path, f"not a JSON list of objects with image_id, text and label ({err!r})", source=MMSD2_SOURCE
        ) from None


def resolve_mvsa_label(text_label: str, image_label: str) -> str | None:
    """Usual MVSA cleaning of one (text, image) pair: agree -> it; neutral + polar -> polar; pos vs neg -> None."""
    t, i = text_label.strip().lower(), image_label.strip().lower()
    if t == i:
        return t
    if "neutral" in (t, i):
        return i if t == "neutral" else t
    return None


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8", "latin-1"):  # MVSA texts are mostly UTF-8, some are not
        try:
            return raw.decode(enc).strip()
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace").strip()


def _mvsa_labels(path: Path, multiple: bool) -> dict[str, int]:
    labels: dict[str, int] = {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for n, line in enumerate(lines[1:], 2):  # first line is the header "ID\ttext,image..."
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        pairs = [f.split(",") for f in fields[1:]]
        if len(fields) < 2 or any(len(p) != 2 for p in pairs) or (multiple and len(pairs) != 3):
            want = "id<TAB>text,image<TAB>text,image<TAB>text,image" if multiple else "id<TAB>text,image"
            raise DataFormatError(path, f"line {n} is {line!r}", expected=f"'{want}'", source=MVSA_SOURCE)
        votes = [resolve_mvsa_label(t, i) for t, i in pairs]
        valid = [v for v in votes if v is not None]
        if not valid:
            continue
        label, count = Counter(valid).most_common(1)[0]
        if multiple and count < 2:  # no majority among the three annotators
            continue
        if label not in MVSA_LABELS:
            raise DataFormatError(path, f"line {n}: unknown label {label!r}", expected=f"one of {MVSA_LABELS}")
        labels[fields[0].strip()] = MVSA_LABELS.index(label)
    return labels


def _aggregate_labels(path: Path) -> dict[str, int]:
    """CLFA's ``aggregate_label.txt``: ``id<TAB>label`` with 0 positive, 1 negative, 2 neutral (no header)."""
    labels: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataFormatError(path, f"line {n} is {line!r}", expected="'id<TAB>label' with label 0, 1 or 2")
        labels[fields[0]] = int(fields[1])
    return labels


def _official_split(labels: dict[str, int]) -> dict[str, list[str]]:
    """CLFA's ``split_train_test.py``: per class in file order, the first 80 % train, the next 10 % valid, the rest
    test; each split lists the positive, then the negative, then the neutral ids."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for c in range(len(MVSA_LABELS)):
        ids = [i for i, y in labels.items() if y == c]
        a, b = int(0.8 * len(ids)), int(0.9 * len(ids))
        out["train"] += ids[:a]
        out["valid"] += ids[a:b]
        out["test"] += ids[b:]
    return out


def _shuffled_split(labels: dict[str, int], seed: int) -> dict[str, list[str]]:
    ids = sorted(labels, key=lambda s: (len(s), s))
    random.Random(seed).shuffle(ids)
    a, b = int(0.8 * len(ids)), int(0.9 * len(ids))
    return {"train": ids[:a], "valid": ids[a:b], "test": ids[b:]}


def load_mvsa(
    root: str | Path,
    split: str,
    multiple: bool = False,
    split_seed: int = 0,
    split_mode: MVSASplit = "official",
) -> list[Example]:
    """MVSA-Single / -Multiple with the usual cleaning and a seeded 8:1:1 split stored next to the data."""
    root = Path(root)
    name = "mvsa_multiple" if multiple else "mvsa_single"
    aggregated = root / "aggregate_label.txt"
    label_file = aggregated if aggregated.is_file() else root / "labelResultAll.txt"
    expected = {"data": ["<id>.txt", "<id>.jpg", "..."], "labelResultAll.txt (or aggregate_label.txt)": None}
    _require(name, root, [label_file, root / "data"], expected, MVSA_SOURCE)
    labels = _aggregate_labels(label_file) if label_file == aggregated else _mvsa_labels(label_file, multiple)
    published = MVSA_PUBLISHED[name]
    if len(labels) != published:
        log.warning("%s: %d labelled examples after cleaning %s, but the literature reports %d (difference %+d)",
                    name, len(labels), label_file.name, published, len(labels) - published)  # fmt: skip
    settings = {"labels": file_digest(label_file), "file": label_file.name, "multiple": multiple, "mode": split_mode,
                "seed": split_seed if split_mode == "shuffle" else None, "cleaning": 1}  # fmt: skip
    split_file = root / f"clfa_split_{digest(settings, 12)}.json"
    if split_file.is_file():
        splits = json.loads(split_file.read_text())["splits"]
    else:
        splits = _official_split(labels) if split_mode == "official" else _shuffled_split(labels, split_seed)
        split_file.write_text(json.dumps({"settings": settings, "splits": splits}))
        log.info("Wrote the %s %s split to %s", name, split_mode, split_file)
    out, missing = [], []
    for i in splits[split]:
        if i not in labels:
            continue
        txt = root / "data" / f"{i}.txt"
        if not txt.is_file():
            missing.append(txt.name)
        out.append(Example(i, _read_text(txt) if txt.is_file() else "", labels[i], root / "data" / f"{i}.jpg"))
    if missing:
        log.warning("%s %s: %d of %d examples have no text file (e.g. %s); they keep an empty text",
                    name, split, len(missing), len(out), ", ".join(missing[:3]))  # fmt: skip
    return out
