"""Image sources in their on-disk formats: ELSA D3 parquet shards (+ downloaded reals), users' folders, predict inputs;
and the test-time perturbations of the robustness evaluation (JPEG, Gaussian blur, Gaussian noise, down-scaling).

* ``elsa_d3`` (Baraldi et al., HF ``elsaEU/ELSA_D3``): parquet shards with columns ``id, original_prompt,
  positive_prompt, url`` and per generator k in 0..3 ``model_gen{k}`` and ``image_gen{k}`` (an image struct
  ``{bytes, path}``). Generated images are decoded from the bytes; the real image of a record is the file
  ``reals/<id>.<ext>`` that ``dmdetect download-reals`` wrote (records without one contribute only fakes). Each real is
  paired with its LAION caption (``original_prompt``), each fake with the prompt it was generated from
  (``positive_prompt``); ``real_caption="fake_prompt"`` gives the reals the fakes' prompt (the text-shortcut control).
* ``folder``: ``real/**/*.{jpg,jpeg,png,webp}``, ``fake/<generator>/**/*`` and an optional ``captions.csv``
  (``path,caption``, paths relative to the root); images without a caption get an empty caption.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from dmdetect.encoders import Item
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = [
    "ELSA_COLUMNS",
    "IMAGE_SUFFIXES",
    "ImageLoader",
    "elsa_items",
    "elsa_shards",
    "folder_items",
    "parse_perturbation",
    "predict_items",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
N_GEN = 4
ELSA_COLUMNS = ["id", "original_prompt", "positive_prompt", "url"] + [
    c for k in range(N_GEN) for c in (f"model_gen{k}", f"image_gen{k}")
]
ELSA_SOURCE = "https://huggingface.co/datasets/elsaEU/ELSA_D3"
ELSA_TREE = {
    "data": ["train-00000-of-NNNNN.parquet", "...", "validation-00000-of-NNNNN.parquet"],
    "reals": ["<id>.jpg  (written by `dmdetect download-reals`)"],
}


# --- decoding and perturbations ---------------------------------------------------------------------------------------
def parse_perturbation(spec: str) -> tuple[str, float]:
    """``"jpeg:75"`` (quality), ``"blur:1.5"`` (Gaussian sigma, px), ``"noise:0.05"`` (std on [0, 1] pixels),
    ``"resize:0.5"`` (down-scaling factor) -> (kind, value)."""
    kind, _, value = spec.partition(":")
    if kind not in ("jpeg", "blur", "noise", "resize") or not value:
        raise ValueError(f"perturbation {spec!r}: expected jpeg:<quality>, blur:<sigma>, noise:<std> or resize:<scale>")
    return kind, float(value)


def perturb(im: Image.Image, spec: str, rng: np.random.Generator) -> Image.Image:
    kind, v = parse_perturbation(spec)
    if kind == "jpeg":
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=int(v))
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "blur":
        return im.filter(ImageFilter.GaussianBlur(radius=v))
    if kind == "noise":
        x = np.asarray(im, dtype=np.float32) / 255.0
        x = np.clip(x + rng.normal(0.0, v, size=x.shape), 0, 1)
        return Image.fromarray((x * 255).round().astype(np.uint8))
    w, h = im.size
    return im.resize((max(1, round(w * v)), max(1, round(h * v))), Image.BICUBIC)


class ImageLoader:
    """Decode an :class:`Item` to RGB (optionally perturbed); an undecodable image is counted and returns None."""

    def __init__(self, perturbation: str | None = None, seed: int = 0) -> None:
        self.perturbation = perturbation
        self.seed = seed
        self.failed: list[str] = []

    def __call__(self, item: Item) -> Image.Image | None:
        try:
            src = io.BytesIO(item.image) if isinstance(item.image, bytes) else item.image
            with Image.open(src) as im:
                rgb = im.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            self.failed.append(item.id)
            return None
        if self.perturbation:
            # one generator per image, seeded by its id: the same noise whatever the batch composition
            rng = np.random.default_rng([self.seed, zlib.crc32(item.id.encode())])
            rgb = perturb(rgb, self.perturbation, rng)
        return rgb

    def report(self, what: str) -> None:
        if self.failed:
            shown = ", ".join(self.failed[:5]) + (f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else "")
            log.warning("%s: %d undecodable image(s) skipped: %s", what, len(self.failed), shown)


# --- users' folders ---------------------------------------------------------------------------------------------------
FOLDER_TREE = {
    "real": ["**/*.jpg|jpeg|png|webp"],
    "fake": {"<generator>": ["**/*.jpg|jpeg|png|webp"]},
    "captions.csv  (optional: path,caption)": None,
}


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_captions(root: Path) -> dict[str, str]:
    path = root / "captions.csv"
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"path", "caption"} <= set(reader.fieldnames):
                raise DataFormatError(path, f"columns {reader.fieldnames}", expected="a header row 'path,caption'")
            return {str(Path(r["path"])): r["caption"] or "" for r in reader}
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "not UTF-8 text", expected="a CSV file with columns path,caption") from err


def folder_items(root: str | Path) -> list[Item]:
    """Every image of a users' folder (``real/``, ``fake/<generator>/``) as items with its caption (or "")."""
    root = Path(root)
    if not (root / "real").is_dir() or not (root / "fake").is_dir():
        raise DataNotFoundError("folder", root, missing=["real/", "fake/"], expected=FOLDER_TREE)
    captions = read_captions(root)
    items = []
    for p in _images_under(root / "real"):
        rel = str(p.relative_to(root))
        items.append(Item(rel, p, captions.get(rel, ""), 0, ""))
    for gen_dir in sorted(d for d in (root / "fake").iterdir() if d.is_dir()):
        for p in _images_under(gen_dir):
            rel = str(p.relative_to(root))
            items.append(Item(rel, p, captions.get(rel, ""), 1, gen_dir.name))
    for label, name in ((0, "real"), (1, "fake/<generator>")):
        if not any(it.label == label for it in items):
            raise DataFormatError(root / name.split("/")[0], f"no {name} images", expected=str(FOLDER_TREE))
    if captions and not any(it.caption for it in items):
        log.warning("captions.csv under %s matched no image path", root)
    return items


def split_records(
    keys: list[str], val_fraction: float, test_fraction: float, seed: int, groups: list[str] | None = None
) -> dict[str, set[str]]:
    """A seeded split of record keys into train / val / test (fractions of the keys), stratified by ``groups``
    (e.g. real and each generator) when given, so that every split holds every group."""
    by_group: dict[str, list[str]] = {}
    for k, g in zip(keys, groups or [""] * len(keys)):
        by_group.setdefault(g, []).append(k)
    out: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for g in sorted(by_group):
        order = sorted(set(by_group[g]))
        random.Random(f"{seed}-{g}").shuffle(order)
        n_val = round(len(order) * val_fraction) if val_fraction > 0 else 0
        n_test = round(len(order) * test_fraction) if test_fraction > 0 else 0
        if groups is not None:  # at least one of each group in each requested split, when there are enough
            n_val = max(n_val, int(val_fraction > 0 and len(order) >= 3))
            n_test = max(n_test, int(test_fraction > 0 and len(order) >= 3))
        out["val"] |= set(order[:n_val])
        out["test"] |= set(order[n_val : n_val + n_test])
        out["train"] |= set(order[n_val + n_test :])
    return out


# --- ELSA D3 ----------------------------------------------------------------------------------------------------------
def elsa_shards(root: str | Path, split: str) -> list[Path]:
    """The parquet shards of ``split`` (``train`` / ``validation``) as released (``data/<split>-*.parquet``), or
    ``<split>/*.parquet``."""
    root = Path(root)
    found = sorted(
        {*root.glob(f"data/{split}-*.parquet"), *root.glob(f"{split}-*.parquet"), *root.glob(f"{split}/*.parquet")}
    )
    if not found:
        raise DataNotFoundError("elsa_d3", root, missing=[f"data/{split}-*.parquet"], expected=ELSA_TREE,
                                source=ELSA_SOURCE)  # fmt: skip
    return found


def _read_shard(path: Path, columns: list[str]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataFormatError(path, f"not a parquet file ({err})", source=ELSA_SOURCE) from err
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing}", expected=f"the ELSA D3 columns {ELSA_COLUMNS}",
                              source=ELSA_SOURCE)  # fmt: skip
    return pq.read_table(path, columns=columns)


def shard_ids_urls(path: Path) -> Iterator[tuple[str, str]]:
    table = _read_shard(path, ["id", "url"])
    yield from zip(map(str, table.column("id").to_pylist()), table.column("url").to_pylist())


def find_real(reals: Path, record_id: str) -> Path | None:
    for p in reals.glob(f"{record_id}.*"):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            return p
    return None


def elsa_items(
    root: str | Path,
    shard: Path,
    real_caption: Literal["own", "fake_prompt"] = "own",
) -> tuple[list[Item], int]:
    """Items of one shard: the downloaded real (if any) and the 4 generated images of each record; and how many
    records had no downloaded real."""
    reals = Path(root) / "reals"
    table = _read_shard(shard, ELSA_COLUMNS)
    cols = {c: table.column(c).to_pylist() for c in ELSA_COLUMNS}
    items, no_real = [], 0
    for r, rid in enumerate(map(str, cols["id"])):
        prompt = cols["positive_prompt"][r] or ""
        real = find_real(reals, rid)
        if real is None:
            no_real += 1
        else:
            caption = (cols["original_prompt"][r] or "") if real_caption == "own" else prompt
            items.append(Item(f"{rid}/real", real, caption, 0, ""))
        for k in range(N_GEN):
            img = cols[f"image_gen{k}"][r]
            data = img.get("bytes") if isinstance(img, dict) else None
            gen = cols[f"model_gen{k}"][r] or f"gen{k}"
            items.append(Item(f"{rid}/gen{k}", data if data is not None else b"", prompt, 1, str(gen)))
    return items, no_real


# --- predict inputs ---------------------------------------------------------------------------------------------------
def predict_items(path: str | Path, prompt: str | None) -> list[Item]:
    """One image file, or every image under a folder (with ``captions.csv`` if present); ``prompt`` overrides."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError("predict input", path.parent, missing=[path.name],
                                hint="Pass --data.predict_path=<an image file or a folder of images>.")  # fmt: skip
    if path.is_file():
        try:
            with Image.open(path) as im:
                im.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise DataFormatError(path, f"not a decodable image ({type(err).__name__})",
                                  expected="a JPEG, PNG, WebP, BMP, GIF or TIFF image") from err  # fmt: skip
        return [Item(str(path), path, prompt or "", -1, "")]
    captions = read_captions(path)
    files = _images_under(path)
    if not files:
        raise DataNotFoundError("predict input", path, missing=["*.jpg|jpeg|png|webp"],
                                hint="The folder holds no image files.")  # fmt: skip
    return [Item(str(p), p, prompt if prompt is not None else captions.get(str(p.relative_to(path)), ""), -1, "")
            for p in files]  # fmt: skip
