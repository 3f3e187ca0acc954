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
import random
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
    count_frames,
    image_transform,
    ks_rows,
    read_frames,
    ucf_clip,
    ucf_entries,
    vggsound_rows,
)
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError

__all__ = ["CRMTDataModule", "ListTensorDataset", "RawClips", "make_synthetic"]


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


def _ucf_class_rows(root: Path) -> list[tuple[int, str]]:
    """``(0-based index, class name)`` rows of UCF101's ``classInd.txt``."""
    from crmt.datasets import UCF_EXPECTED, read_list

    path = root / "ucfTrainTestlist" / "classInd.txt"
    rows = read_list(path, "ucf101", root, UCF_EXPECTED)
    bad = [i for i, (idx, _) in enumerate(rows) if not idx.isdigit() or int(idx) < 1]
    if bad or not rows:
        raise DataFormatError(path, f"line {bad[0] + 1 if bad else 1} is not '<1-based index> <class>'",
                              expected="'<index> <class name>' per line, indices from 1")  # fmt: skip
    return [(int(idx) - 1, name) for idx, name in rows]


class ListTensorDataset(Dataset):
    """Items ``([x¹[i], x²[i], ...], y[i])`` from in-memory tensors."""

    def __init__(self, xs: list[Tensor], y: Tensor) -> None:
        self.xs, self.y = xs, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[list[Tensor], Tensor]:
        return [x[i] for x in self.xs], self.y[i]


class RawClips(Dataset):
    """Users' raw clips for ``predict``: items ``([audio (1, F, 128), clip (3, T, H, W)], index)`` (audio-visual) or
    ``([rgb, flow], index)`` (UCF101), with the evaluation transforms of the data set."""

    def __init__(self, dm: CRMTDataModule, clips: list[tuple[Path, ...]]) -> None:
        self.clips = clips
        self.audio_visual = dm.dataset in ("kinetics_sounds", "vggsound")
        self.n_frames, self.size = dm.n_frames, dm.image_size
        self.audio_frames, self.sample_rate = dm.audio_frames, dm.audio_sample_rate
        self.transform = image_transform(dm.image_size, False, IMAGENET_MEAN, IMAGENET_STD)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int]:
        from crmt.audio import load_audio

        rng = random.Random(0)  # evaluation sampling is deterministic
        if self.audio_visual:
            audio, folder = self.clips[i]
            xs = [load_audio(audio, self.audio_frames, self.sample_rate),
                  read_frames(folder, self.n_frames, False, self.transform, rng)]  # fmt: skip
        else:
            xs = ucf_clip(*self.clips[i], self.n_frames, False, self.transform, self.size, rng)
        return xs, i


class CRMTDataModule(pl.LightningDataModule):
    """``dataset`` in {synthetic, kinetics_sounds, vggsound, ucf101}; batches are ``([x¹ (B, …), x² (B, …)], y (B,))``.

    Validation: a held-out split of the training data (``val_fraction``; the official code validates on the test
    list). The attributes ``n_classes``, ``modality_names``, ``in_sizes`` and ``encoder_kinds`` are linked into the
    model by the CLI. ``n_classes`` left unset (None) is taken from the data's label lists (KS: the class count of
    both list files, integer labels: the largest + 1; VGGSound: the class names of vggsound.csv; UCF101:
    classInd.txt; synthetic: 4); set, every label is checked against it. ``predict`` takes it from the checkpoint.
    """

    def __init__(
        self,
        dataset: Literal["synthetic", "kinetics_sounds", "vggsound", "ucf101"] = "synthetic",
        root: str = "data/crmt",
        batch_size: int = 128,
        num_workers: int = 0,
        n_classes: int | None = None,
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
        predict_frames: str | None = None,
        audio_sample_rate: int = 16000,
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
        self.predict_file, self.predict_frames = predict_file, predict_frames
        self.audio_sample_rate = audio_sample_rate
        self.predict_set: Dataset | None = None
        self.predict_names: list[str] | None = None
        if dataset == "synthetic":
            self.modality_names = ["A", "B"]
            self.in_sizes = [dim, dim]
            self.encoder_kinds = ["mlp", "mlp"]
        elif dataset in ("kinetics_sounds", "vggsound"):
            self.modality_names = ["audio", "visual"]
            self.in_sizes = [1, 3]
            self.encoder_kinds = ["resnet18_audio", "resnet18_frames"]
        else:
            self.modality_names = ["rgb", "flow"]
            self.in_sizes = [3, 2]
            self.encoder_kinds = ["resnet18_frames", "resnet18_frames"]
        self.train_set: Dataset | None = None
        self.lip_set: Dataset | None = None
        self.n_classes_from_labels = n_classes is None
        if n_classes is None:
            # predict: the checkpoint's head size (set by the CLI); training: the data's label lists
            self.n_classes = 4 if dataset == "synthetic" else None if predict_file else self._classes_in_labels()

    def _classes_in_labels(self) -> int:
        root = Path(self.root)
        if self.dataset == "ucf101":
            return 1 + max(idx for idx, _ in _ucf_class_rows(root))
        rows = self._av_rows(root)
        idx = class_index([lab for sub in rows.values() for _, lab in sub])
        return 1 + max(idx.values(), default=-1)

    def _av_rows(self, root: Path) -> dict[str, list[tuple[str, str]]]:
        if self.dataset == "vggsound":
            return vggsound_rows(root)
        return {"train": ks_rows(root, "train"), "test": ks_rows(root, "test")}

    # -- input bounds in the normalised space, for the attacks' clamp to [0, 1] images --------------------------------
    def input_bounds(self) -> list[tuple[Tensor, Tensor] | None]:
        def img(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[Tensor, Tensor]:
            m, s = torch.tensor(mean)[:, None, None, None], torch.tensor(std)[:, None, None, None]  # (C, 1, 1, 1)
            return (0 - m) / s, (1 - m) / s

        if self.dataset in ("kinetics_sounds", "vggsound"):
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
        elif self.dataset in ("kinetics_sounds", "vggsound"):
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
        rows = self._av_rows(root)
        train_rows, test_rows = rows["train"], rows["test"]
        classes = class_index([lab for _, lab in train_rows + test_rows])
        for sub, sub_rows in (("train", train_rows), ("test", test_rows)):
            labels = [lab for _, lab in sub_rows]
            path = root / ("vggsound.csv" if self.dataset == "vggsound" else f"ks_{sub}_overlap.txt")
            self._check_labels([classes[lab] for lab in labels], path, labels)
        kw = {
            "dataset": self.dataset,
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
        test_kw = {"split": "test", "train_transform": False, "names": test_rows, **kw}
        self.val_set = Subset(train_eval, va) if va else KineticsSounds(**test_kw)
        self.test_set = KineticsSounds(**test_kw)

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
        # in-process loading: a bad clip is a one-paragraph error (a worker would re-raise it as a RuntimeError)
        return DataLoader(self.predict_set, batch_size=self.batch_size, shuffle=False, num_workers=0)

    def _predict_set(self) -> Dataset:
        """A user's samples (``--data.predict_file``), batches ``([x¹, x²], index)``:

        * ``.npz``: one array per modality, named as the modalities (``A``/``B``, ``audio``/``visual``,
          ``rgb``/``flow``), each (N, ...) in the model's normalised input space;
        * raw clips of an audio-visual model (Kinetics-Sounds, VGGSound): an audio file (``.wav``, a ``.npy``
          waveform at ``--data.audio_sample_rate`` or a ``.npy`` fbank) with ``--data.predict_frames <frame folder>``,
          or a list file (any other suffix) of ``<audio> <frame folder>`` lines;
        * raw clips of an RGB + flow model (UCF101): a list file of ``<rgb folder> <flow u folder> <flow v folder>``
          lines.

        List paths are relative to the list file's folder; blank lines and ``#`` comments are skipped. Every path is
        checked before anything is predicted (an error names the line)."""
        if not self.predict_file:
            raise PaperkitError(
                "predict needs --data.predict_file: an .npz with arrays "
                f"{self.modality_names}, an audio file with --data.predict_frames, or a list file of clips"
            )
        path = Path(self.predict_file)
        if not path.is_file():
            raise DataNotFoundError("predict file", path.parent, missing=[path.name], expected=[path.name])
        if path.suffix.lower() == ".npz":
            self.predict_names = None
            return self._predict_arrays(path)
        if self.dataset == "synthetic":
            expected = f"an .npz with arrays {self.modality_names}"
            msg = "raw clips need a model of a real data set (--data.dataset kinetics_sounds, vggsound or ucf101)"
            raise DataFormatError(path, msg, expected=expected)
        audio_visual = self.dataset in ("kinetics_sounds", "vggsound")
        if audio_visual and path.suffix.lower() in (".wav", ".npy"):
            if not self.predict_frames:
                raise PaperkitError(
                    f"predict on the audio file {path}: pass its frame folder with --data.predict_frames <folder> "
                    "(frame_0000{t}.jpg or 000001.jpg files), or a list file of '<audio> <frame folder>' lines"
                )
            clips = [(path, Path(self.predict_frames))]
        else:
            clips = self._read_clip_list(path, 2 if audio_visual else 3)
        for n, clip in enumerate(clips):
            self._check_clip(clip, path if len(clips) > 1 or path.suffix.lower() not in (".wav", ".npy") else None, n)
        self.predict_names = [" ".join(str(p) for p in clip) for clip in clips]
        return RawClips(self, clips)

    def _predict_arrays(self, path: Path) -> Dataset:
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

    def _read_clip_list(self, path: Path, n_fields: int) -> list[tuple[Path, ...]]:
        fields = "<audio .wav/.npy> <frame folder>" if n_fields == 2 else "<rgb folder> <flow u folder> <flow v folder>"
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError) as err:
            raise DataFormatError(path, f"not a text list of clips ({err})", expected=f"'{fields}' per line") from None
        clips = []
        for n, line in enumerate(text.splitlines()):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = [p for p in line.replace(",", " ").split() if p]
            if len(parts) != n_fields:
                raise DataFormatError(path, f"line {n + 1} has {len(parts)} fields", expected=f"'{fields}' per line")
            clips.append(tuple(p if Path(p).is_absolute() else path.parent / p for p in map(Path, parts)))
        if not clips:
            raise DataFormatError(path, "no clips listed", expected=f"'{fields}' per line")
        return clips

    def _check_clip(self, clip: tuple[Path, ...], list_file: Path | None, n: int) -> None:
        where = f"line {n + 1} of {list_file}: " if list_file else ""
        audio_visual = self.dataset in ("kinetics_sounds", "vggsound")
        files, folders = (clip[:1], clip[1:]) if audio_visual else ((), clip)
        for f in files:
            if not f.is_file():
                raise DataNotFoundError("predict clip", f.parent, missing=[f"{where}{f.name}"], expected=[f.name])
            if f.suffix.lower() not in (".wav", ".npy"):
                raise DataFormatError(f, f"{where}unknown audio file type '{f.suffix}'", expected=".wav or .npy audio")
        for d in folders:
            if not d.is_dir() or count_frames(d) == 0:
                raise DataNotFoundError("predict clip", d.parent, missing=[f"{where}{d.name}/ with .jpg frames"],
                                        expected={d.name: ["frame_00001.jpg", "..."]})  # fmt: skip

    def memory_dataloader(self, size: int, seed: int = 0) -> DataLoader:
        """``size`` training samples drawn without replacement (seeded, the same on every rank), evaluation
        transforms: the clean features that fill MSEFM's feature memory. Fewer training samples than ``size`` is an
        error (the memory has a fixed number of columns)."""
        self.setup("fit")
        n = len(self.lip_set)
        if size > n:
            raise PaperkitError(f"crmt: model.memory_size={size} but the training split has only {n} samples; set "
                                f"--model.memory_size <= {n}")  # fmt: skip
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].tolist()
        return DataLoader(Subset(self.lip_set, idx), batch_size=self.batch_size, shuffle=False,
                          num_workers=self.num_workers)  # fmt: skip

    def lipschitz_dataloader(self, rank: int = 0, world_size: int = 1) -> DataLoader:
        """The training split with evaluation transforms, in order (sharded over DDP ranks)."""
        self.setup("fit")
        ds = self.lip_set
        if world_size > 1:
            ds = Subset(ds, list(range(rank, len(ds), world_size)))
        return DataLoader(ds, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)
