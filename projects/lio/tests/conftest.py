"""Fixture writers: tiny datasets in exactly the official on-disk formats (CUB-200-2011, torchvision's Stanford Cars
devkit layout, FGVC-Aircraft 2013b, the official flat lists), with real JPEG/PNG files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
from PIL import Image

SMALL = [
    "--data.synthetic_train_per_class=8",
    "--data.synthetic_test_per_class=2",
    "--data.anchors_per_batch=4",
    "--data.eval_batch_size=10",
]


def _jpeg(path: Path, seed: int, size: tuple[int, int] = (40, 32)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, format="JPEG")


def write_cub(root: Path, n_classes: int = 3, per_class: int = 4, segmentations: bool = True) -> Path:
    """``root/CUB_200_2011`` with the official text files; image i of a class is train if i is even."""
    base = root / "CUB_200_2011"
    images, labels, split, boxes = [], [], [], []
    classes = [f"{c + 1:03d}.Bird_{c}" for c in range(n_classes)]
    i = 0
    for c, cname in enumerate(classes):
        for j in range(per_class):
            i += 1
            rel = f"{cname}/Bird_{c}_{j:04d}_{1000 + i}.jpg"
            _jpeg(base / "images" / rel, i)
            images.append(f"{i} {rel}")
            labels.append(f"{i} {c + 1}")
            split.append(f"{i} {1 if j % 2 == 0 else 0}")
            boxes.append(f"{i} 2.0 3.0 20.0 15.0")
            if segmentations:
                seg = np.zeros((32, 40), dtype=np.uint8)
                seg[8:24, 10:30] = 255
                (base / "segmentations" / cname).mkdir(parents=True, exist_ok=True)
                Image.fromarray(seg).save(base / "segmentations" / Path(rel).with_suffix(".png"))
    (base / "images.txt").write_text("\n".join(images) + "\n")
    (base / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (base / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (base / "classes.txt").write_text("\n".join(f"{k + 1} {n}" for k, n in enumerate(classes)) + "\n")
    (base / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    return root


def write_lists(root: Path, n_classes: int = 3, per_class: int = 4) -> Path:
    """The official flat layout: ``all/<file>`` + ``train.txt`` / ``test.txt`` with 1-based labels."""
    train, test = [], []
    for c in range(n_classes):
        for j in range(per_class):
            name = f"img_{c}_{j}.jpg"
            _jpeg(root / "all" / name, 100 * c + j)
            (train if j % 2 == 0 else test).append(f"{name} {c + 1}")
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("\n".join(test) + "\n")
    return root


def _annos(fnames: list[str], classes: list[int]) -> np.ndarray:
    dt = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    arr = np.zeros((1, len(fnames)), dtype=dt)
    for k, (f, c) in enumerate(zip(fnames, classes)):
        arr[0, k] = (
            np.array([[1]]),
            np.array([[2]]),
            np.array([[30]]),
            np.array([[20]]),
            np.array([[c]]),
            np.array([f]),
        )
    return arr


def write_stanford_cars(root: Path, n_classes: int = 3, per_class: int = 2) -> Path:
    """torchvision's Stanford Cars layout: devkit .mat structs (1-based classes), cars_train/, cars_test/."""
    base = root / "stanford_cars"
    names = np.array([f"Car Model {c} 2012" for c in range(n_classes)], dtype=object)
    (base / "devkit").mkdir(parents=True)
    scipy.io.savemat(base / "devkit" / "cars_meta.mat", {"class_names": names[None, :]})
    for split, folder, mat in (("train", "cars_train", base / "devkit" / "cars_train_annos.mat"),
                               ("test", "cars_test", base / "cars_test_annos_withlabels.mat")):  # fmt: skip
        fnames, classes = [], []
        for c in range(n_classes):
            for j in range(per_class):
                f = f"{len(fnames) + 1:05d}.jpg"
                _jpeg(base / folder / f, 7 * c + j + (50 if split == "test" else 0))
                fnames.append(f), classes.append(c + 1)
        scipy.io.savemat(mat, {"annotations": _annos(fnames, classes)})
    return root


def write_fgvc_aircraft(root: Path, n_classes: int = 3, per_class: int = 2) -> Path:
    """``fgvc-aircraft-2013b/data``: variants.txt, images_variant_{trainval,test}.txt, images/<id>.jpg."""
    data = root / "fgvc-aircraft-2013b" / "data"
    variants = [f"A{300 + 10 * c}-{c}00" for c in range(n_classes)]
    data.mkdir(parents=True)
    (data / "variants.txt").write_text("\n".join(variants) + "\n")
    k = 0
    for split in ("trainval", "test"):
        lines = []
        for v in variants:
            for _ in range(per_class):
                k += 1
                image_id = f"{1000000 + k:07d}"
                _jpeg(data / "images" / f"{image_id}.jpg", k)
                lines.append(f"{image_id} {v}")
        (data / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def cub_root(tmp_path: Path) -> Path:
    return write_cub(tmp_path / "cub")


@pytest.fixture
def lists_root(tmp_path: Path) -> Path:
    return write_lists(tmp_path / "lists")


@pytest.fixture
def fmt() -> SimpleNamespace:
    """The fixture writers: ``fmt.cub(root)``, ``fmt.lists``, ``fmt.stanford_cars``, ``fmt.fgvc_aircraft``."""
    return SimpleNamespace(cub=write_cub, lists=write_lists, stanford_cars=write_stanford_cars,
                           fgvc_aircraft=write_fgvc_aircraft)  # fmt: skip


@pytest.fixture
def small() -> list[str]:
    """CLI flags for a seconds-long synthetic run."""
    return list(SMALL)
