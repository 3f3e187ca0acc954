"""Readers of the paper's datasets in their official on-disk layouts (LIO Sec. 4.1), and the image dataset.

* ``cub``: CUB-200-2011 as distributed (``CUB_200_2011/``: images.txt, image_class_labels.txt, train_test_split.txt,
  classes.txt, bounding_boxes.txt, images/<class>/<file>.jpg; ``segmentations/<class>/<file>.png`` optional, for the
  OEL mask IoU);
* ``stanford_cars``: torchvision's ``StanfordCars`` layout (``stanford_cars/devkit/cars_meta.mat``,
  ``devkit/cars_train_annos.mat``, ``cars_test_annos_withlabels.mat``, ``cars_train/``, ``cars_test/``), read by
  torchvision itself;
* ``fgvc_aircraft``: ``fgvc-aircraft-2013b/data/`` (variants.txt, images_variant_{trainval,test}.txt, images/), read by
  torchvision's ``FGVCAircraft`` (variant level, 100 classes);
* ``lists``: the official LIO/DCL layout, a flat ``all/`` folder + ``train.txt`` / ``test.txt`` with lines
  ``<file> <1-based label>``.

A missing root or list file, a malformed line or a label outside the class range is a one-paragraph error naming the
file and line. An image that does not decode during training is replaced by another image of its class, reported once
per file (never a crash mid-epoch); at ``predict`` time it is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = [
    "CUB_SOURCE",
    "Record",
    "RecordDataset",
    "Split",
    "load_image",
    "read_cub",
    "read_fgvc_aircraft",
    "read_lists",
    "read_stanford_cars",
]

log = logging.getLogger(__name__)

CUB_SOURCE = "https://www.vision.caltech.edu/datasets/cub_200_2011/"
CARS_SOURCE = "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (the devkit layout torchvision reads)"
AIRCRAFT_SOURCE = "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/"
LISTS_SOURCE = "https://github.com/JDAI-CV/DCL (datasets/<name>/train.txt, test.txt) with the images in all/"


@dataclass(frozen=True)
class Record:
    """One image: its file, 0-based label and (optionally) its ground-truth object mask file."""

    path: str
    label: int
    mask: str | None = None


@dataclass
class Split:
    train: list[Record]
    test: list[Record]
    class_names: list[str]


def load_image(path: str | Path) -> Image.Image:
    """An RGB PIL image; a missing or undecodable file is a :class:`DataNotFoundError` / :class:`DataFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("image", path.parent, missing=[path.name])
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataFormatError(path, f"the image does not decode ({type(err).__name__}: {err})",
                              expected="a JPEG/PNG image") from None  # fmt: skip


# --- text list files ------------------------------------------------------------------------------------------------
def _lines(path: Path, n_fields: int, what: str) -> list[tuple[int, list[str]]]:
    """Non-empty lines of ``path`` split into ``n_fields`` (the last one keeps its spaces), with 1-based numbers."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(maxsplit=n_fields - 1)
        if len(fields) != n_fields:
            raise DataFormatError(path, f"line {n} has {len(fields)} field(s): {line.strip()!r}", expected=what)
        out.append((n, fields))
    return out


def _int(path: Path, n: int, value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataFormatError(path, f"line {n}: {what} {value!r} is not an integer") from None


# --- CUB-200-2011 ---------------------------------------------------------------------------------------------------
CUB_TREE = {
    "CUB_200_2011": {
        "images.txt": None, "image_class_labels.txt": None, "train_test_split.txt": None, "classes.txt": None,
        "bounding_boxes.txt": None,
        "images": {"001.Black_footed_Albatross": ["Black_Footed_Albatross_0001_796111.jpg"]},
        "segmentations (optional)": {"001.Black_footed_Albatross": ["Black_Footed_Albatross_0001_796111.png"]},
    }
}  # fmt: skip


def _cub_base(root: Path) -> Path:
    for base in (root, root / "CUB_200_2011"):
        if (base / "images.txt").is_file():
            return base
    return root / "CUB_200_2011"


def read_cub(root: str | Path) -> Split:
    """CUB-200-2011: 200 classes, 5,994 train / 5,794 test images by train_test_split.txt."""
    root = Path(root)
    base = _cub_base(root)
    names = ["images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt"]
    missing = [n for n in names if not (base / n).is_file()]
    if not root.is_dir() or missing:
        raise DataNotFoundError("cub", root, missing=missing or [str(root)], expected=CUB_TREE, source=CUB_SOURCE)
    classes = {}
    for n, (cid, name) in _lines(base / "classes.txt", 2, "'<class_id> <class_name>'"):
        classes[_int(base / "classes.txt", n, cid, "class id")] = name
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise DataFormatError(base / "classes.txt", "class ids are not 1..K")
    images = {_int(base / "images.txt", n, i, "image id"): p for n, (i, p) in
              _lines(base / "images.txt", 2, "'<image_id> <relative path>'")}  # fmt: skip
    labels, split = {}, {}
    path = base / "image_class_labels.txt"
    for n, (i, c) in _lines(path, 2, "'<image_id> <class_id>'"):
        label = _int(path, n, c, "class id")
        if label not in classes:
            raise DataFormatError(path, f"line {n}: class {label} is outside the class range 1..{len(classes)}")
        labels[_int(path, n, i, "image id")] = label - 1
    path = base / "train_test_split.txt"
    for n, (i, t) in _lines(path, 2, "'<image_id> <is_training_image 0|1>'"):
        if t not in ("0", "1"):
            raise DataFormatError(path, f"line {n}: is_training_image must be 0 or 1, got {t!r}")
        split[_int(path, n, i, "image id")] = t == "1"
    for other, table in (("image_class_labels.txt", labels), ("train_test_split.txt", split)):
        lost = sorted(set(images) - set(table))
        if lost:
            raise DataFormatError(base / other, f"image id {lost[0]} of images.txt has no line ({len(lost)} missing)")
    seg = base / "segmentations"
    train, test = [], []
    for i, rel in images.items():
        mask = seg / Path(rel).with_suffix(".png")
        rec = Record(str(base / "images" / rel), labels[i], str(mask) if mask.is_file() else None)
        (train if split[i] else test).append(rec)
    return Split(train, test, [classes[k] for k in sorted(classes)])


# --- the official flat lists ----------------------------------------------------------------------------------------
LISTS_TREE = {"all": ["<image file>", "..."], "train.txt": None, "test.txt": None}


def read_lists(root: str | Path) -> Split:
    """``all/`` + ``train.txt`` / ``test.txt`` (``<file> <1-based label>``); K = the largest label in train.txt."""
    root = Path(root)
    missing = [n for n in ("all", "train.txt", "test.txt") if not (root / n).exists()]
    if missing:
        raise DataNotFoundError("lists", root, missing=missing, expected=LISTS_TREE, source=LISTS_SOURCE)
    parsed = {}
    for name in ("train.txt", "test.txt"):
        path = root / name
        rows = []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.strip().rsplit(maxsplit=1)  # the label is the last field (file names may hold spaces)
            if len(fields) != 2:
                raise DataFormatError(path, f"line {n} is {line.strip()!r}", expected="'<file> <1-based label>'")
            rows.append((n, fields[0], _int(path, n, fields[1], "label")))
        parsed[name] = rows
    n_classes = max((lab for _, _, lab in parsed["train.txt"]), default=0)
    split = {}
    for name, rows in parsed.items():
        recs = []
        for n, file, lab in rows:
            if not 1 <= lab <= n_classes:
                raise DataFormatError(root / name, f"line {n}: label {lab} is outside the class range 1..{n_classes} "
                                      "(labels are 1-based; K is the largest label in train.txt)")  # fmt: skip
            recs.append(Record(str(root / "all" / file), lab - 1))
        split[name] = recs
    return Split(split["train.txt"], split["test.txt"], [f"class_{k:03d}" for k in range(1, n_classes + 1)])


# --- torchvision-read datasets --------------------------------------------------------------------------------------
CARS_TREE = {
    "stanford_cars": {
        "devkit": ["cars_meta.mat", "cars_train_annos.mat"], "cars_test_annos_withlabels.mat": None,
        "cars_train": ["00001.jpg", "..."], "cars_test": ["00001.jpg", "..."],
    }
}  # fmt: skip
AIRCRAFT_TREE = {
    "fgvc-aircraft-2013b": {
        "data": {"variants.txt": None, "images_variant_trainval.txt": None, "images_variant_test.txt": None,
                 "images": ["0034309.jpg", "..."]}
    }
}  # fmt: skip


def read_stanford_cars(root: str | Path) -> Split:
    """Stanford Cars (196 classes, 8,144 / 8,041) through ``torchvision.datasets.StanfordCars``."""
    from torchvision.datasets import StanfordCars

    root = Path(root)
    try:
        train, test = StanfordCars(str(root), "train"), StanfordCars(str(root), "test")
    except RuntimeError:
        raise DataNotFoundError("stanford_cars", root, expected=CARS_TREE, source=CARS_SOURCE) from None
    except (ValueError, KeyError, TypeError) as err:
        raise DataFormatError(root / "stanford_cars", f"unreadable annotations ({err})") from None
    k = len(train.classes)
    recs = {}
    for name, ds in (("train", train), ("test", test)):
        # torchvision keeps the (path, 0-based class) pairs in `_samples` (no public accessor)
        for path, label in ds._samples:
            if not 0 <= int(label) < k:
                raise DataFormatError(
                    root / "stanford_cars", f"{Path(path).name}: class {int(label) + 1} outside 1..{k}"
                )
        recs[name] = [Record(p, int(lab)) for p, lab in ds._samples]
    return Split(recs["train"], recs["test"], [str(c) for c in train.classes])


def read_fgvc_aircraft(root: str | Path) -> Split:
    """FGVC-Aircraft variants (100 classes, 6,667 trainval / 3,333 test) via ``torchvision.datasets.FGVCAircraft``."""
    from torchvision.datasets import FGVCAircraft

    root = Path(root)
    data = root / "fgvc-aircraft-2013b" / "data"
    needed = ["variants.txt", "images_variant_trainval.txt", "images_variant_test.txt", "images"]
    missing = [n for n in needed if not (data / n).exists()]
    if missing:
        raise DataNotFoundError("fgvc_aircraft", root, missing=missing, expected=AIRCRAFT_TREE, source=AIRCRAFT_SOURCE)
    recs = {}
    for split in ("trainval", "test"):
        try:
            ds = FGVCAircraft(str(root), split=split, annotation_level="variant")
        except KeyError as err:
            raise DataFormatError(data / f"images_variant_{split}.txt",
                                  f"variant {err} is not listed in variants.txt") from None  # fmt: skip
        recs[split] = [Record(p, int(lab)) for p, lab in zip(ds._image_files, ds._labels)]
    return Split(recs["trainval"], recs["test"], list(ds.classes))


# --- the torch dataset ----------------------------------------------------------------------------------------------
class RecordDataset(Dataset):
    """Image records -> dict(image (3, S, S), label, mask (1, S, S), has_mask, centre (2,) px (row, col), index).

    ``transform(image, mask)`` applies the same geometry to both (torchvision v2). ``substitute_bad``: an image that
    does not decode is replaced by the next decodable image of its class and reported once (training); otherwise the
    error propagates (evaluation and predict must not silently change their inputs).
    """

    def __init__(
        self, records: Sequence[Record], transform: Callable, substitute_bad: bool = True, size: int = 448
    ) -> None:
        self.records = list(records)
        self.transform = transform
        self.substitute_bad = substitute_bad
        self.size = size
        self.bad: set[str] = set()
        self._by_class: dict[int, list[int]] = {}
        for i, r in enumerate(self.records):
            self._by_class.setdefault(r.label, []).append(i)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([r.label for r in self.records], dtype=np.int64)

    def _load(self, i: int) -> tuple[Image.Image, Image.Image | None, int]:
        order = self._by_class[self.records[i].label]
        start = order.index(i)
        for j in [*order[start:], *order[:start]]:
            rec = self.records[j]
            try:
                img = load_image(rec.path)
                mask = Image.open(rec.mask).convert("L") if rec.mask else None
                return img, mask, j
            except (DataFormatError, DataNotFoundError, OSError) as err:
                if not self.substitute_bad:
                    raise
                if rec.path not in self.bad:
                    self.bad.add(rec.path)
                    log.warning("unreadable image replaced by another of its class (%d so far): %s", len(self.bad), err)
        raise DataFormatError(self.records[i].path, "no image of this class decodes")

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img, mask, _ = self._load(i)
        image, m = self.transform(img, mask)
        has = mask is not None
        m = (m > 0.5).float() if has else torch.zeros(1, *image.shape[-2:])
        return {"image": image, "label": torch.tensor(self.records[i].label), "mask": m,
                "has_mask": torch.tensor(has), "centre": _centroid(m), "index": torch.tensor(i)}  # fmt: skip


def _centroid(mask: torch.Tensor) -> torch.Tensor:
    """(row, col) centre of mass of a (1, H, W) mask in pixels; the image centre for an empty mask."""
    h, w = mask.shape[-2:]
    total = mask.sum()
    if total <= 0:
        return torch.tensor([(h - 1) / 2, (w - 1) / 2])
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(w, dtype=torch.float32)[None, :]
    return torch.stack([(mask[0] * rows).sum() / total, (mask[0] * cols).sum() / total])
