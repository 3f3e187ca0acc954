"""DataModule: frozen CLIP features of real and generated images with their captions (paper Sec. 4, ELSA D3).

``--data.dataset``:

* ``synthetic`` (default): the embedded CLIP-like feature world of :mod:`dmdetect.synthetic`, no encoder or download;
* ``folder``: users' images (``real/``, ``fake/<generator>/``, optional ``captions.csv``; see :mod:`dmdetect.images`),
  either one tree split at random (``val_fraction``, ``test_fraction``, ``split_seed``) or ``train/``, ``test/`` (and
  optionally ``val/``) subfolders in that layout;
* ``elsa_d3``: the released parquet shards (``data/train-*.parquet`` -> train + a validation fraction,
  ``data/validation-*.parquet`` -> test) and the reals fetched by ``dmdetect download-reals``.

Images are encoded once by the frozen CLIP (:mod:`dmdetect.encoders`) and cached. Evaluation options: held-out
generators (``train_generators`` / ``test_generators``), a 1:20 real:fake ratio (only one real in five kept, in every
split), the text-shortcut control (``real_caption="fake_prompt"``; on the synthetic world it acts only with the
``synthetic_prompt_shift`` option, whose reals and fakes carry different kinds of text) and the robustness evaluation
(``robustness``: a list of test-time perturbations such as ``jpeg:75``, each an extra test set). Batches are dicts:
``image (B, Di)``, ``text (B, Dt)``, ``label (B,)`` (1 = generated), ``generator (B,)`` (index into
``generator_names``, -1 = real), and in ``predict`` ``id`` (the image path).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Literal

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from dmdetect.encoders import TINY_CLIP, Item, embed_dim, encode_items
from dmdetect.images import ImageLoader, elsa_items, elsa_shards, folder_items, parse_perturbation, predict_items
from dmdetect.images import split_records as _split_records
from dmdetect.synthetic import GENERATORS, SyntheticWorld, make_split
from paperkit.errors import DataFormatError, PaperkitError

__all__ = ["DMDetectDataModule", "FeatureDataset"]

log = logging.getLogger(__name__)

Tensors = dict[str, torch.Tensor]


class FeatureDataset(Dataset):
    """Per-sample dicts from a dict of equally long tensors (and optionally a list of ids)."""

    def __init__(self, tensors: Tensors, ids: list[str] | None = None) -> None:
        n = {len(v) for v in tensors.values()}
        if len(n) != 1:
            raise ValueError(f"tensors of different lengths: { {k: len(v) for k, v in tensors.items()} }")
        self.tensors, self.ids = tensors, ids

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict:
        out: dict = {k: v[i] for k, v in self.tensors.items()}
        if self.ids is not None:
            out["id"] = self.ids[i]
        return out


def _subsample_reals(t: Tensors, keep_every: int, seed: int) -> Tensors:
    """Keep one real in ``keep_every`` (a seeded choice) and every fake."""
    if keep_every <= 1:
        return t
    real = (t["label"] < 0.5).nonzero().flatten().tolist()
    random.Random(seed).shuffle(real)
    drop = set(real[len(real) // keep_every :])
    keep = torch.tensor([i not in drop for i in range(len(t["label"]))])
    return {k: v[keep] for k, v in t.items()}


def _keep_generators(t: Tensors, names: list[str], keep: list[str] | None) -> Tensors:
    if keep is None:
        return t
    unknown = sorted(set(keep) - set(names))
    if unknown:
        raise PaperkitError(f"generator(s) {unknown} are not in the data; its generators are {names}.")
    ids = torch.tensor([names.index(g) for g in keep])
    mask = (t["generator"] < 0) | torch.isin(t["generator"], ids)
    return {k: v[mask] for k, v in t.items()}


class DMDetectDataModule(LightningDataModule):
    def __init__(
        self,
        dataset: Literal["synthetic", "folder", "elsa_d3"] = "synthetic",
        root: str | None = None,
        batch_size: int = 256,
        num_workers: int = 0,
        real_to_fake: Literal["1:4", "1:20"] = "1:4",
        train_generators: list[str] | None = None,
        test_generators: list[str] | None = None,
        real_caption: Literal["own", "fake_prompt"] = "own",
        robustness: list[str] | None = None,
        # synthetic
        synthetic_dim: int = 64,
        synthetic_records: int = 2000,
        synthetic_val_records: int = 500,
        synthetic_test_records: int = 1000,
        synthetic_seed: int = 0,
        synthetic_prompt_shift: float = 0.0,
        # frozen CLIP (folder, elsa_d3, predict)
        clip_model: str = TINY_CLIP,
        clip_pretrained: str | None = None,
        cache_dir: str = "cache/dmdetect",
        encode_batch_size: int = 32,
        encode_device: str = "cpu",
        # splits of folder / elsa_d3 train
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        # predict
        predict_path: str | None = None,
        predict_prompt: str | None = None,
    ) -> None:
        """Args (beyond the module docstring): ``real_to_fake`` ``"1:4"`` (all reals, as in D3) or ``"1:20"``;
        ``train_generators`` / ``test_generators``: generator names to keep (synthetic: ``gen0``..``gen4``, the default
        trains and tests on ``gen0``..``gen3``); ``clip_model`` / ``clip_pretrained``: open_clip architecture and tag or
        checkpoint file (paper: ``ViT-L-14`` / ``openai``; ``None`` = seeded random weights);
        ``synthetic_prompt_shift``: the synthetic text-shortcut option (fakes carry their caption shifted along a fixed
        "prompt style" direction, reals their own caption; 0 = the default world, no shortcut; see
        :mod:`dmdetect.synthetic`);
        ``predict_path``: an image or a folder of images; ``predict_prompt``: the caption of every predicted image
        (default: ``captions.csv`` in the folder, else empty)."""
        super().__init__()
        self.save_hyperparameters()
        if dataset != "synthetic" and not root:
            raise PaperkitError(f"--data.dataset {dataset} needs --data.root (the folder holding the data).")
        for spec in robustness or []:
            try:
                parse_perturbation(spec)
            except ValueError as err:
                raise PaperkitError(str(err)) from None
        dim = synthetic_dim if dataset == "synthetic" else embed_dim(clip_model)
        self.image_dim = self.text_dim = dim
        self.generator_names: list[str] = list(GENERATORS) if dataset == "synthetic" else []
        self.test_names: list[str] = ["clean", *(robustness or [])]
        self.splits: dict[str, Tensors] = {}
        self.test_sets: list[Tensors] = []
        self.predict_set: FeatureDataset | None = None

    # --- building the splits ---------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        if self.splits:
            return
        h = self.hparams
        if h.dataset == "synthetic":
            splits, tests = self._synthetic()
        else:
            splits, tests = self._images()
        every = 5 if h.real_to_fake == "1:20" else 1
        train_gens = h.train_generators
        if train_gens is None and h.dataset == "synthetic":
            train_gens = GENERATORS[:4]
        test_gens = h.test_generators if h.test_generators is not None else train_gens
        for name in ("train", "val"):
            t = _keep_generators(splits[name], self.generator_names, train_gens)
            self.splits[name] = _subsample_reals(t, every, h.split_seed + (name == "val"))
        kept = [_keep_generators(t, self.generator_names, test_gens) for t in tests]
        self.test_sets = [_subsample_reals(t, every, h.split_seed + 2) for t in kept]
        self.splits["test"] = self.test_sets[0]
        for name, t in self.splits.items():
            n_real = int((t["label"] < 0.5).sum())
            if n_real == 0 or n_real == len(t["label"]):
                raise DataFormatError(h.root or "synthetic", f"the {name} split has only one class ({len(t['label'])} "
                                      "samples)", expected="real and generated images in every split")  # fmt: skip
            log.info("%s: %d samples (%d real, %d generated)", name, len(t["label"]), n_real, len(t["label"]) - n_real)

    def _synthetic(self) -> tuple[dict[str, Tensors], list[Tensors]]:
        h = self.hparams
        world = SyntheticWorld(dim=h.synthetic_dim, seed=h.synthetic_seed)
        allg = list(range(len(GENERATORS)))
        text = {"prompt_shift": h.synthetic_prompt_shift, "real_caption": h.real_caption}
        splits = {"train": make_split(world, h.synthetic_records, 1, allg, **text),
                  "val": make_split(world, h.synthetic_val_records, 2, allg, **text)}  # fmt: skip
        test = make_split(world, h.synthetic_test_records, 3, allg, **text)
        if h.robustness:
            log.warning("robustness perturbations apply to images; the synthetic features are evaluated clean only")
        return splits, [test]

    def _encode(self, items: list[Item], tag: str, perturbation: str | None = None) -> tuple[Tensors, int]:
        h = self.hparams
        loader = ImageLoader(perturbation, seed=h.split_seed)
        feats = encode_items(items, loader, h.clip_model, h.clip_pretrained, h.cache_dir, tag,
                             batch_size=h.encode_batch_size, device=h.encode_device,
                             extra_key={"perturbation": perturbation, "real_caption": h.real_caption})  # fmt: skip
        loader.report(tag)
        ok = feats["ok"]
        gen = torch.tensor([self.generator_names.index(it.generator) if it.label == 1 else -1 for it in items])
        t = {"image": feats["image"], "text": feats["text"], "label": torch.tensor([float(it.label) for it in items]),
             "generator": gen.long()}  # fmt: skip
        return {k: v[ok] for k, v in t.items()}, int((~ok).sum())

    def _image_items(self) -> dict[str, list[Item]]:
        """train / val / test items of a folder or ELSA D3 root."""
        h = self.hparams
        root = Path(h.root)
        if h.dataset == "folder":
            if (root / "train").is_dir() and (root / "test").is_dir():
                out = {s: folder_items(root / s) for s in ("train", "test")}
                for s in ("train", "test"):
                    for it in out[s]:
                        it.id = f"{s}/{it.id}"
                if (root / "val").is_dir():
                    out["val"] = [Item(f"val/{it.id}", it.image, it.caption, it.label, it.generator)
                                  for it in folder_items(root / "val")]  # fmt: skip
                else:
                    parts = _split_records([it.id for it in out["train"]], h.val_fraction, 0.0, h.split_seed,
                                           [it.generator for it in out["train"]])  # fmt: skip
                    out["val"] = [it for it in out["train"] if it.id in parts["val"]]
                    out["train"] = [it for it in out["train"] if it.id in parts["train"]]
                return out
            items = folder_items(root)
            parts = _split_records([it.id for it in items], h.val_fraction, h.test_fraction, h.split_seed,
                                   [it.generator for it in items])  # fmt: skip
            return {s: [it for it in items if it.id in parts[s]] for s in ("train", "val", "test")}
        out = {"train": [], "val": [], "test": []}
        no_real = 0
        for shard in elsa_shards(root, "train"):
            items, missing = elsa_items(root, shard, h.real_caption)
            no_real += missing
            parts = _split_records([it.id.split("/")[0] for it in items], h.val_fraction, 0.0, h.split_seed)
            for it in items:
                out["val" if it.id.split("/")[0] in parts["val"] else "train"].append(it)
        for shard in elsa_shards(root, "validation"):
            items, missing = elsa_items(root, shard, h.real_caption)
            no_real += missing
            out["test"].extend(items)
        if no_real:
            log.warning("elsa_d3: %d record(s) have no downloaded real image (run `dmdetect download-reals`); "
                        "they contribute only their generated images", no_real)  # fmt: skip
        return out

    def _images(self) -> tuple[dict[str, Tensors], list[Tensors]]:
        h = self.hparams
        items = self._image_items()
        self.generator_names = sorted({it.generator for s in items.values() for it in s if it.label == 1})
        tag = f"{h.dataset}-{Path(h.root).name}"
        splits = {s: self._encode(items[s], f"{tag}-{s}")[0] for s in ("train", "val")}
        tests = [self._encode(items["test"], f"{tag}-test")[0]]
        for spec in h.robustness or []:
            tests.append(self._encode(items["test"], f"{tag}-test-{spec.replace(':', '')}", spec)[0])
        return splits, tests

    def _setup_predict(self) -> None:
        h = self.hparams
        if not h.predict_path:
            raise PaperkitError("predict needs --data.predict_path=<an image file or a folder of images>.")
        items = predict_items(h.predict_path, h.predict_prompt)
        if h.dataset == "synthetic":
            raise PaperkitError(
                "this configuration uses the synthetic feature world (--data.dataset synthetic), whose features no "
                "image encoder produces: predict on images with a model trained on CLIP features, i.e. pass the "
                "training run's config (--config runs/dmdetect/version_N/config.yaml of a folder or elsa_d3 run)."
            )
        loader = ImageLoader()
        feats = encode_items(items, loader, h.clip_model, h.clip_pretrained, h.cache_dir, "predict",
                             batch_size=h.encode_batch_size, device=h.encode_device)  # fmt: skip
        loader.report("predict")
        ok = feats["ok"]
        if not ok.any():
            raise DataFormatError(h.predict_path, "no decodable image", expected="JPEG, PNG, WebP, BMP, GIF or TIFF")
        ids = [it.id for it, good in zip(items, ok.tolist()) if good]
        tensors = {"image": feats["image"][ok], "text": feats["text"][ok], "label": torch.full((len(ids),), -1.0),
                   "generator": torch.full((len(ids),), -1, dtype=torch.long)}  # fmt: skip
        self.predict_set = FeatureDataset(tensors, ids)

    # --- loaders ---------------------------------------------------------------------------------------------------
    def _loader(self, t: Tensors | FeatureDataset, shuffle: bool) -> DataLoader:
        ds = t if isinstance(t, FeatureDataset) else FeatureDataset(t)
        bs = self.hparams.batch_size
        # a last training batch of one sample would break BatchNorm: drop it
        drop_last = shuffle and len(ds) % bs == 1
        return DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last, num_workers=self.hparams.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits["train"], shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits["val"], shuffle=False)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        loaders = [self._loader(t, shuffle=False) for t in self.test_sets]
        return loaders[0] if len(loaders) == 1 else loaders

    def predict_dataloader(self) -> DataLoader:
        assert self.predict_set is not None
        return self._loader(self.predict_set, shuffle=False)
