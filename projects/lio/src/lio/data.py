"""The DataModule: the paper's datasets or the embedded synthetic set, a validation split held out from train, and
the anchor + K positives batch sampler of LIO (Sec. 3.1: pseudo-masks need K same-class images per anchor).

Batches are laid out as groups of 1 + K same-class images ``[a0, a0p1..a0pK, a1, a1p1.., ...]`` (16 x (1 + 3) in the
paper). :class:`GroupSampler` is a ``DistributedSampler`` (so Lightning keeps it under DDP instead of wrapping it into a
sampler that would interleave the groups across ranks): each rank takes whole groups of its own anchors. A class with
fewer than K + 1 training images draws its K positives with replacement from its other images (a class with a single
image repeats that image); this is logged once. The validation split is stratified and seeded (``split_seed``), held out
from the training images; ``split.json`` in the run folder records it; the test split is only used by ``test``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from pytorch_lightning import LightningDataModule
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler
from torchvision import tv_tensors
from torchvision.transforms import v2 as T

from lio.datasets import (
    Record,
    RecordDataset,
    Split,
    load_image,
    read_cub,
    read_fgvc_aircraft,
    read_lists,
    read_stanford_cars,
)
from lio.synthetic import SyntheticParts, generate
from paperkit.errors import DataNotFoundError, PaperkitError

__all__ = ["GroupSampler", "LIODataModule", "SyntheticDataset", "stratified_split"]

log = logging.getLogger(__name__)

DatasetName = Literal["synthetic", "cub", "stanford_cars", "fgvc_aircraft", "lists"]
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
READERS = {"cub": read_cub, "stanford_cars": read_stanford_cars, "fgvc_aircraft": read_fgvc_aircraft,
           "lists": read_lists}  # fmt: skip


class GroupSampler(DistributedSampler):
    """Indices ``[a, p1..pK]`` per anchor: every training image is an anchor once per epoch (shuffled with
    ``seed + epoch``), each with K other images of its class. Under DDP each rank gets whole groups, the same number
    of batches on every rank (incomplete batches are dropped)."""

    def __init__(
        self,
        labels: np.ndarray,
        anchors_per_batch: int,
        num_positive: int,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:  # DistributedSampler.__init__ needs a dataset and an initialised process group; set its fields here
        if num_replicas is None:
            num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.labels = np.asarray(labels)
        self.anchors_per_batch, self.k = anchors_per_batch, num_positive
        self.num_replicas, self.rank, self.seed, self.epoch = num_replicas, rank, seed, 0
        self.shuffle, self.drop_last = True, True
        self._pools = {int(c): np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        small = sorted(c for c, p in self._pools.items() if len(p) < num_positive + 1)
        if small:
            log.info("%d class(es) have fewer than K+1 = %d training images: their positives are drawn with "
                     "replacement (classes %s)", len(small), num_positive + 1, small[:10])  # fmt: skip
        per_step = anchors_per_batch * num_replicas
        self.steps = len(self.labels) // per_step
        if self.steps == 0:
            raise PaperkitError(f"{len(self.labels)} training images are fewer than one batch of {per_step} anchors")
        self.num_samples = self.steps * anchors_per_batch * (1 + num_positive)
        self.total_size = self.num_samples * num_replicas

    def __len__(self) -> int:
        return self.num_samples

    def positives(self, anchor: int, g: torch.Generator) -> list[int]:
        pool = self._pools[int(self.labels[anchor])]
        others = pool[pool != anchor]
        if len(others) == 0:
            return [anchor] * self.k  # a single-image class: the anchor is its own positive
        if len(others) >= self.k:
            pick = torch.randperm(len(others), generator=g)[: self.k]
        else:
            pick = torch.randint(len(others), (self.k,), generator=g)
        return [int(others[int(i)]) for i in pick]

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.labels), generator=g)[: self.steps * self.anchors_per_batch * self.num_replicas]
        mine = order.view(self.steps, self.num_replicas, self.anchors_per_batch)[:, self.rank].reshape(-1)
        # every rank shuffles with the same seed (identical anchor order), then draws its own anchors' positives
        out: list[int] = []
        for a in mine.tolist():
            out += [a, *self.positives(a, g)]
        return iter(out)


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices): ``round(val_fraction * n_c)`` images of every class c to validation (at least one
    image of every class stays in train)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = min(round(val_fraction * len(idx)), len(idx) - 1)
        val += idx[:n_val].tolist()
        train += idx[n_val:].tolist()
    return np.sort(train), np.sort(val)


class SyntheticDataset(Dataset):
    """The embedded set in memory: the same dict items as :class:`RecordDataset` (centre = the body centre)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, masks: np.ndarray, centres: np.ndarray) -> None:
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        self.images = (x - 0.5) / 0.25  # (N, 3, S, S)
        self.label_t = torch.from_numpy(labels)
        self.masks = torch.from_numpy(masks).float()[:, None]  # (N, 1, S, S)
        self.centres = torch.from_numpy(centres)

    def __len__(self) -> int:
        return len(self.label_t)

    @property
    def labels(self) -> np.ndarray:
        return self.label_t.numpy()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "label": self.label_t[i], "mask": self.masks[i],
                "has_mask": torch.tensor(True), "centre": self.centres[i], "index": torch.tensor(i)}  # fmt: skip


class _Subset(Dataset):
    def __init__(self, ds: Any, idx: np.ndarray) -> None:
        self.ds, self.idx = ds, np.asarray(idx)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def labels(self) -> np.ndarray:
        return self.ds.labels[self.idx]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.ds[int(self.idx[i])]


class _Transform:
    """The paper's augmentation (train: Resize(512) -> RandomRotation(15°) -> RandomCrop(448) -> HFlip; test: Resize ->
    CenterCrop), applied jointly to the image and its mask."""

    def __init__(self, train: bool, resize: int, crop: int, rotation: float, hflip: bool) -> None:
        ops: list = [T.Resize((resize, resize), antialias=True)]
        if train:
            ops += [T.RandomRotation(rotation)] if rotation > 0 else []
            ops += [T.RandomCrop(crop)] + ([T.RandomHorizontalFlip()] if hflip else [])
        else:
            ops += [T.CenterCrop(crop)]
        self.geometry = T.Compose(ops)
        self.norm = T.Compose([T.ToDtype(torch.float32, scale=True), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __call__(self, img: Any, mask: Any | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        image = tv_tensors.Image(T.functional.pil_to_tensor(img))
        if mask is None:
            return self.norm(self.geometry(image)), None
        m = tv_tensors.Mask(T.functional.pil_to_tensor(mask) > 127)
        image, m = self.geometry(image, m)
        return self.norm(image), m.float()


class LIODataModule(LightningDataModule):
    """Fine-grained images with labels (and object masks where known), in anchor + K positive groups for training."""

    def __init__(
        self,
        dataset: DatasetName = "synthetic",
        root: str = "data/lio",
        sampler: Literal["groups", "random"] = "groups",
        anchors_per_batch: int = 16,
        num_positive: int = 3,
        eval_batch_size: int = 64,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        resize_size: int = 512,
        image_size: int = 448,
        rotation: float = 15.0,
        hflip: bool = True,
        num_workers: int = 0,
        synthetic_n_classes: int = 10,
        synthetic_train_per_class: int = 60,
        synthetic_test_per_class: int = 50,
        synthetic_seed: int = 0,
        predict_path: str | None = None,
    ) -> None:
        super().__init__()
        if num_positive < 1 and sampler == "groups":
            raise PaperkitError("--data.num_positive must be >= 1 with the groups sampler")
        self.dataset, self.root, self.sampler = dataset, root, sampler
        self.anchors_per_batch, self.num_positive = anchors_per_batch, num_positive
        self.eval_batch_size, self.num_workers = eval_batch_size, num_workers
        self.val_fraction, self.split_seed = val_fraction, split_seed
        self.resize_size, self.image_size, self.rotation, self.hflip = resize_size, image_size, rotation, hflip
        self.synthetic = SyntheticParts(
            n_classes=synthetic_n_classes, train_per_class=synthetic_train_per_class,
            test_per_class=synthetic_test_per_class, seed=synthetic_seed,
        )  # fmt: skip
        self.predict_path = predict_path
        self._split: Split | None = None
        self.train_set = self.val_set = self.test_set = self.predict_set = None
        self.val_index: np.ndarray | None = None
        self.predict_files: list[str] = []
        self._sampler_seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # from the seeded global generator

    # --- sizes linked into the model ---------------------------------------------------------------------------------
    def _real(self) -> Split:
        if self._split is None:
            self._split = READERS[self.dataset](self.root)
        return self._split

    @property
    def n_classes(self) -> int:
        return self.synthetic.n_classes if self.dataset == "synthetic" else len(self._real().class_names)

    @property
    def class_names(self) -> list[str]:
        if self.dataset == "synthetic":
            return [f"arrangement_{k}" for k in range(self.synthetic.n_classes)]
        return list(self._real().class_names)

    @property
    def group_size(self) -> int:
        """Images per group in a training batch: 1 + K (groups sampler) or 1 (plain shuffled batches)."""
        return 1 + self.num_positive if self.sampler == "groups" else 1

    @property
    def batch_images(self) -> int:
        return self.anchors_per_batch * (1 + self.num_positive)

    # --- setup -------------------------------------------------------------------------------------------------------
    def _transform(self, train: bool) -> _Transform:
        return _Transform(train, self.resize_size, self.image_size, self.rotation, self.hflip)

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        if self.train_set is not None:
            return
        if self.dataset == "synthetic":
            full = SyntheticDataset(*generate(self.synthetic, "train"))
            test = SyntheticDataset(*generate(self.synthetic, "test"))
            train_idx, val_idx = stratified_split(full.labels, self.val_fraction, self.split_seed)
            self.train_set, self.val_set = _Subset(full, train_idx), _Subset(full, val_idx)
            self.test_set = test
        else:
            split = self._real()
            labels = np.asarray([r.label for r in split.train])
            train_idx, val_idx = stratified_split(labels, self.val_fraction, self.split_seed)
            recs = split.train
            self.train_set = RecordDataset([recs[i] for i in train_idx], self._transform(True))
            self.val_set = RecordDataset([recs[i] for i in val_idx], self._transform(False), substitute_bad=False)
            self.test_set = RecordDataset(split.test, self._transform(False), substitute_bad=False)
        self._train_idx, self.val_index = train_idx, val_idx
        log.info("images: train %d, val %d, test %d", len(self.train_set), len(self.val_set), len(self.test_set))

    def save_split(self, folder: str | Path) -> Path:
        """``split.json``: the held-out validation images (paths, or synthetic indices) and the split's seed."""
        if self.dataset == "synthetic":
            val = [int(i) for i in self.val_index]
        else:
            val = [self._real().train[int(i)].path for i in self.val_index]
        path = Path(folder) / "split.json"
        path.write_text(json.dumps({"dataset": self.dataset, "split_seed": self.split_seed,
                                    "val_fraction": self.val_fraction, "val": val}, indent=1))  # fmt: skip
        return path

    def _setup_predict(self) -> None:
        if not self.predict_path:
            raise PaperkitError("predict needs --data.predict_path: an image file or a folder of images")
        path = Path(self.predict_path)
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataNotFoundError("predict images", path, missing=["*.jpg / *.png"])
        elif path.is_file():
            files = [str(path)]
        else:
            raise DataNotFoundError("predict images", path.parent, missing=[path.name],
                                    hint="--data.predict_path takes an image file or a folder of images.")  # fmt: skip
        for f in files:
            load_image(f)  # every input decodes before any prediction is written
        self.predict_files = files
        records = [Record(f, 0) for f in files]
        if self.dataset == "synthetic":
            self.predict_set = RecordDataset(
                records, _SyntheticTransform(self.synthetic.image_size), substitute_bad=False
            )
        else:
            self.predict_set = RecordDataset(records, self._transform(False), substitute_bad=False)

    # --- loaders -----------------------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        if self.sampler == "groups":
            sampler = GroupSampler(self.train_set.labels, self.anchors_per_batch, self.num_positive, self._sampler_seed)
            return DataLoader(self.train_set, batch_size=self.batch_images, sampler=sampler, drop_last=True,
                              num_workers=self.num_workers)  # fmt: skip
        # plain shuffled batches; every image 1 + K times per epoch, as many images per epoch as the groups sampler
        repeated = ConcatDataset([self.train_set] * (1 + self.num_positive))
        return DataLoader(repeated, batch_size=self.batch_images, shuffle=True, drop_last=True,
                          num_workers=self.num_workers)  # fmt: skip

    def _eval(self, ds: Dataset) -> DataLoader:
        return DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._eval(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        return self._eval(self.predict_set)


class _SyntheticTransform:
    """A user's image for a model trained on the synthetic set: resized to its size, the same normalisation."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Any, mask: Any | None) -> tuple[torch.Tensor, None]:
        x = T.functional.pil_to_tensor(img.resize((self.size, self.size))).float() / 255.0
        return (x - 0.5) / 0.25, None
