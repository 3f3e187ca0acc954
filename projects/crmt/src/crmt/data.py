"""Data for CRMT (paper Sec. 5.1): the embedded synthetic two-modality set and the DataModule over all data sets.

Synthetic data (our construction; the embedded default): K classes, two 16-d modalities.

* **A, preferred and fragile:** ``x_A[:K] = 0.5·onehot(y) + N(0, 0.05²)``, the rest N(0, 1). Linearly separable with
  class means 0.71 apart, so any classifier using A alone flips at ε ≈ 0.36.
* **B, weaker, nonlinear, robust:** N(0, 1) except XOR pairs: dims (2i, 2i+1) carry bit i of ``y_B`` as
  ``x_{2i} = s·1.5(1+0.2n)``, ``x_{2i+1} = s·p·1.5(1+0.2n)`` (s a random sign, p = ±1 the bit) + N(0, 0.3²);
  ``y_B = y`` with probability 0.75, otherwise a random class, so B alone tops out near 0.81.

Joint training leans on A (easy, large margins) and is then fragile to attacks on A; CRMT should move weight to B.
Items are ``([x_A, x_B], y)`` for every data set (KS: ``[audio, visual]``, UCF101: ``[rgb, flow]``).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from crmt.datasets import (
    FLOW_MEAN,
    FLOW_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    KineticsSounds,
    UCF101Flow,
    class_index,
    ks_rows,
    ucf_entries,
)
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError

__all__ = ["CRMTDataModule", "ListTensorDataset", "make_synthetic"]


def make_synthetic(
    n: int,
    seed: int,
    n_classes: int = 4,
    dim: int = 16,
    a_scale: float = 0.5,
    a_noise: float = 0.05,
    b_scale: float = 1.5,
    b_noise: float = 0.3,
    b_label_noise: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``x_A (n, dim), x_B (n, dim), y (n,)`` as float32/int64 arrays (deterministic in ``seed``)."""
    bits = max(1, math.ceil(math.log2(n_classes)))
    if dim < max(n_classes, 2 * bits):
        raise ValueError(f"dim={dim} too small for {n_classes} classes")
    g = np.random.default_rng(seed)
    y = g.integers(0, n_classes, n)
    xa = g.normal(0.0, 1.0, (n, dim))
    xa[:, :n_classes] = a_scale * np.eye(n_classes)[y] + g.normal(0.0, a_noise, (n, n_classes))
    yb = np.where(g.random(n) < 1.0 - b_label_noise, y, g.integers(0, n_classes, n))
    xb = g.normal(0.0, 1.0, (n, dim))
    for i in range(bits):
        parity = 1.0 - 2.0 * ((yb >> i) & 1)  # ±1
        s = g.choice([-1.0, 1.0], n)
        xb[:, 2 * i] = s * b_scale * (1 + 0.2 * g.normal(size=n)) + g.normal(0.0, b_noise, n)
        xb[:, 2 * i + 1] = s * parity * b_scale * (1 + 0.2 * g.normal(size=n)) + g.normal(0.0, b_noise, n)
    return xa.astype(np.float32), xb.astype(np.float32), y.astype(np.int64)


class ListTensorDataset(Dataset):
    """Items ``([x¹[i], x²[i], ...], y[i])`` from in-memory tensors."""

    def __init__(self, xs: list[Tensor], y: Tensor) -> None:
        self.xs, self.y = xs, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[list[Tensor], Tensor]:
        return [x[i] for x in self.xs], self.y[i]


class CRMTDataModule(pl.LightningDataModule):
    """``dataset`` in {synthetic, kinetics_sounds, ucf101}; batches are ``([x¹ (B, …), x² (B, …)], y (B,))``.

    Validation: a held-out split of the training data (``val_fraction``; the official code validates on the test
    list). The attributes ``n_classes``, ``modality_names``, ``in_sizes`` and ``encoder_kinds`` are linked into the
    model by the CLI.
    """

    def __init__(
        self,
        dataset: Literal["synthetic", "kinetics_sounds", "ucf101"] = "synthetic",
        root: str = "data/crmt",
        batch_size: int = 128,
        num_workers: int = 0,
        n_classes: int = 4,
        n_train: int = 4000,
        n_val: int = 1000,
        n_test: int = 2000,
        dim: int = 16,
        synthetic_seed: int = 0,
        image_size: int = 224,
        n_frames: int = 3,
        val_fraction: float = 0.1,
        split_seed: int = 2024,
        ucf_fold: int = 1,
        audio_frames: int = 1024,
        predict_file: str | None = None,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.root = root
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.n_classes = n_classes
        self.n_train, self.n_val, self.n_test, self.dim = n_train, n_val, n_test, dim
        self.synthetic_seed = synthetic_seed
        self.image_size, self.n_frames = image_size, n_frames
        self.val_fraction, self.split_seed, self.ucf_fold = val_fraction, split_seed, ucf_fold
        self.audio_frames = audio_frames
        self.predict_file = predict_file
        self.predict_set: Dataset | None = None
        if dataset == "synthetic":
            self.modality_names = ["A", "B"]
            self.in_sizes = [dim, dim]
            self.encoder_kinds = ["mlp", "mlp"]
        elif dataset == "kinetics_sounds":
            self.modality_names = ["audio", "visual"]
            self.in_sizes = [1, 3]
            self.encoder_kinds = ["resnet18_audio", "resnet18_frames"]
        else:
            self.modality_names = ["rgb", "flow"]
            self.in_sizes = [3, 2]
            self.encoder_kinds = ["resnet18_frames", "resnet18_frames"]
        self.train_set: Dataset | None = None
        self.lip_set: Dataset | None = None

    # -- input bounds in the normalised space, for the attacks' clamp to [0, 1] images --------------------------------
    def input_bounds(self) -> list[tuple[Tensor, Tensor] | None]:
        def img(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[Tensor, Tensor]:
            m, s = torch.tensor(mean)[:, None, None, None], torch.tensor(std)[:, None, None, None]  # (C, 1, 1, 1)
            return (0 - m) / s, (1 - m) / s

        if self.dataset == "kinetics_sounds":
            return [None, img(IMAGENET_MEAN, IMAGENET_STD)]
        if self.dataset == "ucf101":
            return [img(IMAGENET_MEAN, IMAGENET_STD), img((FLOW_MEAN,) * 2, (FLOW_STD,) * 2)]
        return [None, None]

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self.predict_set = self._predict_set()
            return
        if self.train_set is not None:
            return
        if self.dataset == "synthetic":
            self._setup_synthetic()
        elif self.dataset == "kinetics_sounds":
            self._setup_ks()
        else:
            self._setup_ucf()

    def _setup_synthetic(self) -> None:
        def ds(n: int, offset: int) -> ListTensorDataset:
            xa, xb, y = make_synthetic(n, self.synthetic_seed * 1000 + offset, self.n_classes, self.dim)
            return ListTensorDataset([torch.from_numpy(xa), torch.from_numpy(xb)], torch.from_numpy(y))

        self.train_set = ds(self.n_train, 0)
        self.lip_set = self.train_set
        self.val_set = ds(self.n_val, 1)
        self.test_set = ds(self.n_test, 2)

    def _split(self, n: int) -> tuple[list[int], list[int]]:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        n_val = round(self.val_fraction * n)
        return perm[n_val:], perm[:n_val]

    def _setup_ks(self) -> None:
        root = Path(self.root)
        train_rows, test_rows = ks_rows(root, "train"), ks_rows(root, "test")
        classes = class_index([lab for _, lab in train_rows + test_rows])
        for sub, rows in (("train", train_rows), ("test", test_rows)):
            labels = [lab for _, lab in rows]
            self._check_labels([classes[lab] for lab in labels], root / f"ks_{sub}_overlap.txt", labels)
        kw = {
            "root": root,
            "class_to_idx": classes,
            "image_size": self.image_size,
            "n_frames": self.n_frames,
            "audio_shape": (self.audio_frames, 128),
        }
        train_aug = KineticsSounds(split="train", train_transform=True, names=train_rows, **kw)
        train_eval = KineticsSounds(split="train", train_transform=False, names=train_rows, **kw)
        tr, va = self._split(len(train_aug))
        self.train_set, self.lip_set = Subset(train_aug, tr), Subset(train_eval, tr)
        self.val_set = Subset(train_eval, va) if va else KineticsSounds(split="test", train_transform=False, **kw)
        self.test_set = KineticsSounds(split="test", train_transform=False, names=test_rows, **kw)

    def _check_labels(self, indices: list[int], path: Path, shown: list[str]) -> None:
        """Every class index must be < ``n_classes`` (the model's head size): else an error naming the file and the
        first offending entry, never an IndexError mid-epoch."""
        for n, (idx, label) in enumerate(zip(indices, shown)):
            if not 0 <= idx < self.n_classes:
                raise DataFormatError(
                    path,
                    f"entry {n + 1} has label '{label}' (class index {idx}), outside the {self.n_classes} classes of "
                    f"--data.n_classes={self.n_classes}",
                    expected=f"labels giving class indices 0..{self.n_classes - 1}, or set --data.n_classes to the "
                    "data's number of classes",
                )

    def _setup_ucf(self) -> None:
        root = Path(self.root)
        train_entries = ucf_entries(root, "train", self.ucf_fold)
        list_file = root / "ucfTrainTestlist" / f"trainlist{self.ucf_fold:02d}.txt"
        self._check_labels([lab for _, lab in train_entries], list_file, [str(lab + 1) for _, lab in train_entries])
        kw = {"root": root, "fold": self.ucf_fold, "image_size": self.image_size, "n_frames": self.n_frames}
        tr, va = self._split(len(train_entries))
        self.train_set = UCF101Flow(split="train", train_transform=True, entries=[train_entries[i] for i in tr], **kw)
        self.lip_set = UCF101Flow(split="train", entries=[train_entries[i] for i in tr], **kw)
        val_entries = [train_entries[i] for i in va] or ucf_entries(root, "test", self.ucf_fold)
        self.val_set = UCF101Flow(split="train", entries=val_entries, **kw)
        self.test_set = UCF101Flow(split="test", **kw)

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, shuffle=False)

    def _predict_set(self) -> Dataset:
        """A user's samples: ``--data.predict_file`` is an ``.npz`` with one array per modality, named as the
        modalities (``A``/``B``, ``audio``/``visual``, ``rgb``/``flow``), each (N, ...) in the model's normalised input
        space. Batches are ``([x¹, x²], index)``."""
        if not self.predict_file:
            raise PaperkitError(f"predict needs --data.predict_file: an .npz with arrays {self.modality_names}")
        path = Path(self.predict_file)
        if not path.is_file():
            raise DataNotFoundError("predict file", path.parent, missing=[path.name], expected=[path.name])
        expected = f"an .npz with arrays {self.modality_names} of equal length N"
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile) as err:
            raise DataFormatError(path, f"not a NumPy .npz archive ({err})", expected=expected) from None
        missing = [m for m in self.modality_names if m not in arrays]
        if missing:
            raise DataFormatError(path, f"no array {missing} (found {sorted(arrays)})", expected=expected)
        xs = [torch.as_tensor(arrays[m], dtype=torch.float32) for m in self.modality_names]
        if len({len(x) for x in xs}) != 1:
            raise DataFormatError(path, f"arrays of different lengths {[len(x) for x in xs]}", expected=expected)
        return ListTensorDataset(xs, torch.arange(len(xs[0])))

    def lipschitz_dataloader(self, rank: int = 0, world_size: int = 1) -> DataLoader:
        """The training split with evaluation transforms, in order (sharded over DDP ranks)."""
        self.setup("fit")
        ds = self.lip_set
        if world_size > 1:
            ds = Subset(ds, list(range(rank, len(ds), world_size)))
        return DataLoader(ds, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)
