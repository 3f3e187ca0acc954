"""Datasets and the LightningDataModule (paper Sec. 4.1): tokenised text, images, frozen CLIP teacher embeddings.

``--data.dataset`` selects ``synthetic`` (embedded default, written in the MMSD2.0 format and read back through the
``mmsd2`` loader), ``mmsd``, ``mmsd2``, ``mvsa_single`` or ``mvsa_multiple`` (:mod:`clfa.datasets`).

Missing / unreadable images (documented policy):

* a missing image file is found when the split is loaded; ``missing_image="skip"`` (default, like the MMSD2.0 loader)
  drops the example, ``"blank"`` keeps it with a mid-grey image; the count is logged once per split;
* a file that exists but cannot be decoded is replaced by the mid-grey image when it is read (teacher and training
  alike); it is counted and reported once per dataset with its path, never an exception mid-epoch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal, get_args

import pytorch_lightning as pl
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as T
from transformers import AutoTokenizer, BertTokenizerFast

from clfa.datasets import MVSA_LABELS, Example, load_mmsd, load_mmsd2, load_mvsa
from clfa.sentic import load_senticnet, sentic_graphs
from clfa.synthetic import SyntheticSpec, World, WorldCLIP, generate_synthetic, world_vocab
from clfa.teacher import teacher_embeddings
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError

__all__ = ["DATASETS", "CLFADataModule", "ImageReader", "TweetDataset", "load_split"]

log = logging.getLogger(__name__)

Dataset_ = Literal["synthetic", "mmsd", "mmsd2", "mvsa_single", "mvsa_multiple"]
DATASETS = get_args(Dataset_)
TeacherKind = Literal["world", "hf", "open_clip", "none"]
BLANK = 128  # mid-grey replacement image


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
_LIST = 'a list of {"image" or "image_id", "text"} objects'  # the predict JSON list


def _check_image(path: Path) -> None:
    """A one-paragraph error for a missing or undecodable image (predict refuses what training would replace)."""
    if not path.is_file():
        raise DataNotFoundError("predict image", path.parent, missing=[path.name])
    try:
        with Image.open(path) as im:
            im.verify()
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataFormatError(path, f"not a decodable image ({err})", expected="a JPEG/PNG/BMP/GIF/WebP file") from None


class ImageReader:
    """Opens images as RGB; an unreadable file becomes a mid-grey image, counted and reported once."""

    def __init__(self, size: int, memo: bool = False) -> None:
        self.size, self.failed, self._warned = size, 0, False
        self._memo: dict[Path, Image.Image] | None = {} if memo else None  # small datasets: decode once

    def __call__(self, path: Path) -> Image.Image:
        if self._memo is not None and path in self._memo:
            return self._memo[path]
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
            if self._memo is not None:
                self._memo[path] = img
            return img
        except (OSError, UnidentifiedImageError, ValueError) as err:
            self.failed += 1
            if not self._warned:
                log.warning("Unreadable image %s (%s); using a grey image (policy: see clfa.data)", path, err)
                self._warned = True
            return Image.new("RGB", (self.size, self.size), (BLANK,) * 3)


def load_split(dataset: Dataset_, root: str | Path, split: str, **kw) -> list[Example]:
    """Examples of one split of ``dataset`` (synthetic = the MMSD2.0 loader on the generated folder)."""
    if dataset in ("synthetic", "mmsd2"):
        return load_mmsd2(root, split, kw.get("image_dir"), kw.get("mmsd2_text", "final"))
    if dataset == "mmsd":
        return load_mmsd(
            root, split, kw.get("image_dir"), kw.get("filter_keywords", True), kw.get("keyword_match", "exact")
        )
    if dataset in ("mvsa_single", "mvsa_multiple"):
        return load_mvsa(
            root, split, dataset == "mvsa_multiple", kw.get("split_seed", 0), kw.get("mvsa_split", "official")
        )
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


class TweetDataset(Dataset):
    """Pre-tokenised texts + images (lazy or preloaded) + teacher embeddings + labels."""

    def __init__(
        self,
        examples: list[Example],
        encoded: dict[str, torch.Tensor],
        reader: ImageReader,
        transform: T.Transform,
        teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
        preload: bool = False,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.examples, self.encoded, self.reader, self.transform = examples, encoded, reader, transform
        self.teacher, self.extras = teacher, extras or {}
        self.labels = torch.tensor([e.label for e in examples], dtype=torch.long)
        self.images = None
        if preload:  # decode once (small datasets): (N, 3, S, S) uint8
            self.images = torch.stack([T.functional.pil_to_tensor(reader(e.image)) for e in examples])

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img = (
            self.images[i]
            if self.images is not None
            else T.functional.pil_to_tensor(self.reader(self.examples[i].image))
        )
        item = {k: v[i] for k, v in self.encoded.items()}
        item.update({k: v[i] for k, v in self.extras.items()})
        item["pixel_values"] = self.transform(img)
        item["labels"] = self.labels[i]
        item["index"] = torch.tensor(i)
        if self.teacher is not None:
            item["teacher_text"], item["teacher_image"] = self.teacher[0][i], self.teacher[1][i]
        return item


class CLFADataModule(pl.LightningDataModule):
    """Tweets (text + image) with their frozen CLIP teacher embeddings.

    Args:
        dataset: ``synthetic`` | ``mmsd`` | ``mmsd2`` | ``mvsa_single`` | ``mvsa_multiple``.
        root: dataset folder (relative to the working directory); the synthetic data is generated there.
        image_dir: image folder if not ``<root>/dataset_image`` (MMSD / MMSD2.0).
        tokenizer: hub id or folder of a BERT tokenizer; ``auto`` = the synthetic world's vocabulary.
        max_seq_length / max_ocr_length: padded token lengths incl. [CLS]/[SEP] (paper 77 / 66).
        use_ocr: also tokenise the OCR text (the official "knowledge" stream).
        senticnet_path: SenticNet lexicon (tab-separated) to build the official attention-bias graphs; off if None.
        image_size, image_mean, image_std: Resize(S, S) -> [0, 1] -> Normalize(mean, std).
        teacher: ``world`` (synthetic only) | ``hf`` | ``open_clip`` | ``none`` (see :mod:`clfa.teacher`);
        teacher_model: the hub id or folder (``hf``), or ``<arch>/<pretrained or checkpoint>`` (``open_clip``).
        teacher_cache: cache folder for the teacher embeddings (default ``<root>/clfa_teacher_cache``).
        missing_image: ``skip`` or ``blank`` (module docstring).
        filter_keywords: MMSD keyword filter (Cai et al. protocol); keyword_match: ``exact`` (case-sensitive, the
            official preprocessing) or ``lower``.
        mvsa_split: ``official`` (per class 80/10/10 in file order, CLFA's split_train_test.py) or ``shuffle``
            (seeded 8:1:1 with ``split_seed``).
        mmsd2_text: ``final`` (text_json_final) or ``clean`` (text_json_clean for valid/test).
        preload_images: decode all images once (default: only for ``synthetic``).
        predict_path: for ``predict``: an image file (with ``predict_text``), a JSON list file, or a folder with one
            JSON list of ``{"image" or "image_id", "text"}`` objects, images relative to that folder.
        synthetic: the generator settings.
    """

    def __init__(
        self,
        dataset: Dataset_ = "synthetic",
        root: str = "data/clfa/synthetic",
        image_dir: str | None = None,
        tokenizer: str = "auto",
        max_seq_length: int = 14,
        max_ocr_length: int = 10,
        use_ocr: bool = False,
        senticnet_path: str | None = None,
        image_size: int = 32,
        image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        image_std: tuple[float, float, float] = (0.5, 0.5, 0.5),
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        teacher: TeacherKind = "world",
        teacher_model: str | None = None,
        teacher_cache: str | None = None,
        teacher_batch_size: int = 64,
        teacher_device: str = "cpu",
        missing_image: Literal["skip", "blank"] = "skip",
        filter_keywords: bool = True,
        keyword_match: Literal["exact", "lower"] = "exact",
        mvsa_split: Literal["official", "shuffle"] = "official",
        mmsd2_text: Literal["final", "clean"] = "final",
        split_seed: int = 0,
        preload_images: bool | None = None,
        predict_path: str | None = None,
        predict_text: str | None = None,
        synthetic: SyntheticSpec | None = None,
    ) -> None:
        super().__init__()
        if teacher in ("hf", "open_clip") and not teacher_model:
            raise PaperkitError(f"--data.teacher {teacher} needs --data.teacher_model (a hub id, folder or checkpoint)")
        self.dataset, self.root = dataset, Path(root)
        self.image_dir, self.max_seq_length, self.max_ocr_length = image_dir, max_seq_length, max_ocr_length
        self.use_ocr, self.senticnet_path = use_ocr, senticnet_path
        self.image_size, self.batch_size = image_size, batch_size
        self.eval_batch_size, self.num_workers = eval_batch_size or batch_size, num_workers
        self.teacher, self.teacher_batch_size, self.teacher_device = teacher, teacher_batch_size, teacher_device
        self.teacher_cache = Path(teacher_cache) if teacher_cache else self.root / "clfa_teacher_cache"
        self.missing_image, self.filter_keywords, self.split_seed = missing_image, filter_keywords, split_seed
        self.keyword_match, self.mvsa_split, self.mmsd2_text = keyword_match, mvsa_split, mmsd2_text
        self.teacher_model = teacher_model
        self.preload = (dataset == "synthetic") if preload_images is None else preload_images
        self.predict_path, self.predict_text = predict_path, predict_text
        self.spec = synthetic or SyntheticSpec()
        self.transform = T.Compose(
            [
                T.Resize((image_size, image_size), antialias=True),
                T.ToDtype(torch.float32, scale=True),
                T.Normalize(image_mean, image_std),
            ]
        )
        self.reader = ImageReader(image_size, memo=self.preload)
        self.tokenizer = self._build_tokenizer(tokenizer)
        self.splits: dict[str, TweetDataset] = {}
        self._loaded: dict[str, list[Example]] = {}

    # --- sizes the model needs (linked in the CLI) ------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return 3 if self.dataset.startswith("mvsa") else 2

    @property
    def class_names(self) -> list[str]:
        return list(MVSA_LABELS) if self.dataset.startswith("mvsa") else ["non-sarcastic", "sarcastic"]

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def _build_tokenizer(self, name: str):
        if name != "auto":
            try:
                return AutoTokenizer.from_pretrained(name)
            except OSError as err:
                raise PaperkitError(
                    f"cannot load the tokenizer {name!r} ({err}). Give a hub id (needs the network or the HF cache) "
                    "or a local folder written by save_pretrained."
                ) from None
        if self.dataset != "synthetic":
            raise PaperkitError("data.tokenizer='auto' is only for the synthetic data; give a BERT tokenizer name/path")
        vocab = self.root / "vocab.txt"
        vocab.parent.mkdir(parents=True, exist_ok=True)
        words = "\n".join(world_vocab(self.spec.n_concepts)) + "\n"
        if not vocab.is_file() or vocab.read_text() != words:
            vocab.write_text(words)
        return BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)

    # --- loading ----------------------------------------------------------------------------------------------------
    def _examples(self, split: str) -> list[Example]:
        if split in self._loaded:  # load (and report missing images) once per split
            return self._loaded[split]
        examples = load_split(
            self.dataset,
            self.root,
            split,
            image_dir=self.image_dir,
            filter_keywords=self.filter_keywords,
            keyword_match=self.keyword_match,
            split_seed=self.split_seed,
            mvsa_split=self.mvsa_split,
            mmsd2_text=self.mmsd2_text,
        )
        missing = [e for e in examples if not e.image.is_file()]
        if missing:
            action = "dropped" if self.missing_image == "skip" else "kept with a grey image"
            log.warning(
                "%s/%s: %d of %d images missing (e.g. %s); %s (data.missing_image=%s)",
                self.dataset, split, len(missing), len(examples), missing[0].image, action, self.missing_image,
            )  # fmt: skip
            if self.missing_image == "skip":
                examples = [e for e in examples if e.image.is_file()]
        self._loaded[split] = examples
        return examples

    def _teacher(self, split: str, examples: list[Example]):
        if self.teacher == "none":
            return None
        world = None
        if self.teacher == "world":
            world = WorldCLIP(
                World(self.spec.n_concepts, self.spec.embed_dim, self.spec.world_seed), self.spec.teacher_noise
            )
        return teacher_embeddings(
            self.teacher if self.teacher == "world" else f"{self.teacher}:{self.teacher_model}",
            examples,
            self.reader,
            self.teacher_cache,
            f"{self.dataset}-{split}",
            batch_size=self.teacher_batch_size,
            device=self.teacher_device,
            world_clip=world,
        )

    def prepare_data(self) -> None:
        """Generate the synthetic data and compute the teacher caches (once, on local rank 0)."""
        if self.dataset == "synthetic":
            generate_synthetic(self.root, self.spec)
        if self.predict_path is None:
            for split in ("train", "valid", "test"):
                self._teacher(split, self._examples(split))

    def _encode(self, texts: list[str], length: int) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def build_dataset(self, examples: list[Example], teacher=None) -> TweetDataset:
        texts = [e.text for e in examples]
        encoded = self._encode(texts, self.max_seq_length)
        extras: dict[str, torch.Tensor] = {}
        if self.use_ocr:
            ocr = self._encode([e.ocr for e in examples], self.max_ocr_length)
            extras = {"ocr_ids": ocr["input_ids"], "ocr_mask": ocr["attention_mask"]}
        if self.senticnet_path:
            lex = load_senticnet(self.senticnet_path)
            self_b, aux_b = sentic_graphs(
                self.tokenizer, texts, [e.ocr for e in examples], lex, self.max_seq_length, self.max_ocr_length
            )
            extras["self_bias"] = self_b
            if self.use_ocr:
                extras["aux_bias"] = aux_b
        return TweetDataset(examples, encoded, self.reader, self.transform, teacher, self.preload, extras)

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self.splits["predict"] = self.build_dataset(self._predict_examples())
            return
        if self.dataset == "synthetic":
            generate_synthetic(self.root, self.spec)  # no-op when prepare_data already ran
        for split in ("train", "valid", "test"):
            if split not in self.splits:
                examples = self._examples(split)
                self.splits[split] = self.build_dataset(examples, self._teacher(split, examples))
        if self.reader.failed:
            log.warning("%d unreadable images were replaced by a grey image", self.reader.failed)

    def _predict_examples(self) -> list[Example]:
        """Users' pairs: an image + ``predict_text``, a JSON list file, or a folder holding one JSON list. Every image
        must exist and decode: at predict time a grey placeholder would be a made-up answer."""
        if self.predict_path is None:
            raise PaperkitError(
                "predict needs --data.predict_path: an image (with --data.predict_text), a JSON list file of "
                '{"image" or "image_id", "text"} objects, or a folder holding one such file'
            )
        path = Path(self.predict_path)
        if not path.exists():
            hint = "Pass an image with --data.predict_text, a JSON list, or its folder."
            raise DataNotFoundError("predict input", path.parent, missing=[path.name], hint=hint)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if self.predict_text is None:
                raise PaperkitError(f"--data.predict_path '{path}' is an image: also give --data.predict_text")
            examples = [Example(path.stem, self.predict_text, 0, path)]
        else:
            examples = self._predict_list(path)
        for ex in examples:
            _check_image(ex.image)
        return examples

    @staticmethod
    def _predict_list(path: Path) -> list[Example]:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if len(found) != 1:
                raise DataFormatError(path, f"expected exactly one JSON list file, found {[f.name for f in found]}")
            path = found[0]
        try:
            rows = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataFormatError(
                path, f"not a JSON file ({err})", expected='a list of {"image", "text"} objects'
            ) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DataFormatError(path, "not a JSON list of objects", expected='a list of {"image", "text"} objects')
        out = []
        for n, r in enumerate(rows):
            if "text" not in r or not (r.get("image") or "image_id" in r):
                raise DataFormatError(path, f"entry {n} lacks 'text' or 'image'/'image_id' ({sorted(r)})")
            image = r.get("image") or f"{r['image_id']}.jpg"
            out.append(
                Example(str(r.get("image_id", n)), str(r["text"]), 0, path.parent / image, str(r.get("ocr", "")))
            )
        return out

    # --- loaders ----------------------------------------------------------------------------------------------------
    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.splits[split],
            batch_size=self.batch_size if shuffle else self.eval_batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", False)
