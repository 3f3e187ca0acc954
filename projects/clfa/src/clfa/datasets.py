"""Real-format loaders of the paper's datasets (paper Sec. 4.1): MMSD, MMSD2.0, MVSA-Single/-Multiple.

Each loader returns a list of :class:`Example` (id, text, label, image path, OCR text) for one split and raises
:class:`~paperkit.errors.DataNotFoundError` / :class:`~paperkit.errors.DataFormatError` with the expected layout.

* ``mmsd`` (Cai et al. 2019, the CLFA release): ``<root>/{train,valid,test}.txt``, one Python-literal list per line
  ``[tweet_id, text, ocr_text, label]`` (``[tweet_id, text, label]`` without OCR is accepted too), images
  ``<image_dir>/{id}.jpg``; the protocol's keyword filter drops examples containing sarcasm-revealing words.
* ``mmsd2`` (Qin et al. 2023): ``<root>/text_json_final/{train,valid,test}.json``, a JSON list of
  ``{"image_id", "text", "label"}``; images ``<image_dir>/{image_id}.jpg``.
* ``mvsa_single`` / ``mvsa_multiple`` (Niu et al. 2016): ``<root>/data/<id>.{txt,jpg}``, ``<root>/labelResultAll.txt``
  (header, then ``id<TAB>text_label,image_label`` with one pair per annotator). Cleaning: per annotator, equal labels
  are kept, a neutral + polar pair becomes the polar label, positive + negative is dropped; MVSA-Multiple keeps the
  majority (≥ 2 of 3) label. A seeded 8:1:1 split is written to ``<root>/clfa_split_seed<k>.json`` and reused.
"""

from __future__ import annotations

import ast
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from paperkit.errors import DataFormatError, DataNotFoundError

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


def keyword_filter(examples: list[Example], keywords: frozenset[str] = MMSD_KEYWORDS) -> list[Example]:
    """Drop examples whose whitespace tokens contain a protocol keyword (case-insensitive)."""
    return [e for e in examples if not keywords.intersection(e.text.lower().split())]


def _require(dataset: str, root: Path, files: list[Path], expected: dict, source: str) -> None:
    missing = [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files if not f.exists()]
    if missing:
        raise DataNotFoundError(dataset, root, missing=missing, expected=expected, source=source)


def load_mmsd(root: str | Path, split: str, image_dir: str | Path | None = None, filter_keywords: bool = True):
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
    return keyword_filter(out) if filter_keywords else out


def load_mmsd2(root: str | Path, split: str, image_dir: str | Path | None = None) -> list[Example]:
    """MMSD2.0: ``text_json_final/<split>.json`` list of {image_id, text, label} -> list of :class:`Example`.

    An optional ``"ocr"`` key (not in the official release; the synthetic data may write it) fills the OCR field.
    """
    root = Path(root)
    images = Path(image_dir) if image_dir else root / "dataset_image"
    path = root / "text_json_final" / f"{split}.json"
    expected = {"text_json_final": [f"{s}.json" for s in SPLITS], "dataset_image": ["<image_id>.jpg", "..."]}
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


def load_mvsa(root: str | Path, split: str, multiple: bool = False, split_seed: int = 0) -> list[Example]:
    """MVSA-Single / -Multiple with the usual cleaning and a seeded 8:1:1 split stored next to the data."""
    root = Path(root)
    name = "mvsa_multiple" if multiple else "mvsa_single"
    label_file = root / "labelResultAll.txt"
    expected = {"data": ["<id>.txt", "<id>.jpg", "..."], "labelResultAll.txt": None}
    _require(name, root, [label_file, root / "data"], expected, MVSA_SOURCE)
    labels = _mvsa_labels(label_file, multiple)
    split_file = root / f"clfa_split_seed{split_seed}.json"
    if split_file.is_file():
        splits = json.loads(split_file.read_text())
    else:
        ids = sorted(labels, key=lambda s: (len(s), s))
        random.Random(split_seed).shuffle(ids)
        a, b = int(0.8 * len(ids)), int(0.9 * len(ids))
        splits = {"train": ids[:a], "valid": ids[a:b], "test": ids[b:]}
        split_file.write_text(json.dumps(splits))
        log.info("Wrote the %s 8:1:1 split (seed %d) to %s", name, split_seed, split_file)
    out = []
    for i in splits[split]:
        if i not in labels:
            continue
        txt = root / "data" / f"{i}.txt"
        text = _read_text(txt) if txt.is_file() else ""
        out.append(Example(i, text, labels[i], root / "data" / f"{i}.jpg"))
    return out
