"""Real-format loaders (paper Sec. 5.1 "datasets"): Kinetics-Sounds (official CRMT layout), UCF101 RGB + TV-L1 flow.

Kinetics-Sounds (official ``dataset/KSDataset``-style layout, ``root`` = the official ``data/`` folder)::

    root/ks_train_overlap.txt            <name> <label>      (train names carry a _<start6>_<end6> suffix)
    root/ks_test_overlap.txt             <name> <label>
    root/train_spec/<name>.npy           float (1024, 128) Kaldi fbank, already normalised
    root/test_spec/<name>.npy
    root/train-frames-1fps/train/<name>/frame_00001.jpg ...   (1 fps; the extraction script's 000001.jpg also read)
    root/val-frames-1fps/test/<name>/...

A sample is kept only if its npy exists and its frame folder holds more than 3 files (official rule). Three frames
are sampled: train ``t_i`` uniform in segment i (seg = ⌊n/3⌋), test ``t_i = i·seg + max(⌊seg/2⌋, 1)``, all 1 when
n ≤ 6; train frames get RandomResizedCrop + horizontal flip, test frames Resize; ImageNet mean/std.

UCF101 (no official loader; assumed layout, see README)::

    root/ucfTrainTestlist/{classInd.txt, trainlist0N.txt, testlist0N.txt}
    root/rgb/<video>/000001.jpg ...
    root/flow/<video>_u/000001.jpg ..., root/flow/<video>_v/000001.jpg ...   (TV-L1, bound 15, mapped to 0-255)

``<video>`` is the list entry's file stem (``v_ApplyEyeMakeup_g08_c01``). Flow is a 2-channel input (u, v)
normalised with mean 0.1307 / std 0.3081 per channel as in the official attack code.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KS_SOURCE",
    "KineticsSounds",
    "UCF101Flow",
    "frame_indices",
    "read_list",
]

log = logging.getLogger(__name__)

KS_SOURCE = "https://github.com/GeWu-Lab/Certifiable-Robust-Multi-modal-Training (Kinetics-Sounds preprocessing)"
UCF_SOURCE = "https://www.crcv.ucf.edu/data/UCF101.php (videos + ucfTrainTestlist); flow from the CRMT repo's script"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLOW_MEAN, FLOW_STD = 0.1307, 0.3081

KS_EXPECTED = {
    "ks_train_overlap.txt": None,
    "ks_test_overlap.txt": None,
    "train_spec": ["<name>.npy"],
    "test_spec": ["<name>.npy"],
    "train-frames-1fps": {"train": {"<name>": ["frame_00001.jpg", "..."]}},
    "val-frames-1fps": {"test": {"<name>": ["frame_00001.jpg", "..."]}},
}
UCF_EXPECTED = {
    "ucfTrainTestlist": ["classInd.txt", "trainlist01.txt", "testlist01.txt"],
    "rgb": {"<video>": ["000001.jpg", "..."]},
    "flow": {"<video>_u": ["000001.jpg", "..."], "<video>_v": ["000001.jpg", "..."]},
}


def read_list(path: Path, dataset: str, root: Path, expected: dict) -> list[tuple[str, str]]:
    """Read ``<name> <label>`` lines (label optional: returned as "")."""
    if not path.is_file():
        raise DataNotFoundError(dataset, root, missing=[path.name], expected=expected, source=_source(dataset))
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) > 2:
            raise DataFormatError(path, f"line {i + 1} has {len(parts)} fields", expected="'<name> <label>' per line")
        rows.append((parts[0], parts[1] if len(parts) == 2 else ""))
    return rows


def _source(dataset: str) -> str:
    return KS_SOURCE if dataset == "kinetics_sounds" else UCF_SOURCE


def frame_indices(n: int, n_frames: int, train: bool, rng: random.Random) -> list[int]:
    """1-based frame indices (official KS sampling): one per segment of ⌊n/T⌋ frames."""
    if n <= 2 * n_frames:
        return [1] * n_frames
    seg = n // n_frames
    if train:
        return [rng.randint(i * seg + 1, i * seg + seg) for i in range(n_frames)]
    return [i * seg + max(seg // 2, 1) for i in range(n_frames)]


def _frame_path(folder: Path, t: int) -> Path:
    for name in (f"frame_{t:05d}.jpg", f"{t:06d}.jpg"):
        p = folder / name
        if p.is_file():
            return p
    raise DataFormatError(folder, f"frame {t} not found", expected=f"frame_{t:05d}.jpg (official) or {t:06d}.jpg")


def _image_transform(size: int, train: bool, mean: tuple[float, ...], std: tuple[float, ...]):
    from torchvision import transforms as T

    ops = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()] if train else [T.Resize((size, size))]
    return T.Compose([*ops, T.ToTensor(), T.Normalize(mean, std)])


class KineticsSounds(Dataset):
    """Kinetics-Sounds: items ``([audio (1, F, 128), clip (3, T, H, W)], label)``."""

    modality_names = ("audio", "visual")

    def __init__(
        self,
        root: str | Path,
        split: str,
        class_to_idx: dict[str, int],
        train_transform: bool,
        image_size: int = 224,
        n_frames: int = 3,
        names: list[tuple[str, str]] | None = None,
        audio_shape: tuple[int, int] = (1024, 128),
    ) -> None:
        self.root = Path(root)
        sub = "train" if split == "train" else "test"
        self.spec_dir = self.root / f"{sub}_spec"
        self.frame_dir = self.root / ("train-frames-1fps/train" if sub == "train" else "val-frames-1fps/test")
        rows = names if names is not None else ks_rows(self.root, sub)
        for d in (self.spec_dir, self.frame_dir):
            if not d.is_dir():
                raise DataNotFoundError(
                    "kinetics_sounds",
                    self.root,
                    missing=[str(d.relative_to(self.root))],
                    expected=KS_EXPECTED,
                    source=KS_SOURCE,
                )
        self.items = []
        for name, label in rows:
            folder = self.frame_dir / name
            if (self.spec_dir / f"{name}.npy").is_file() and folder.is_dir() and len(list(folder.iterdir())) > 3:
                self.items.append((name, class_to_idx[label]))
        if len(self.items) < len(rows):
            log.info("kinetics_sounds/%s: kept %d of %d samples (npy + >3 frames)", sub, len(self.items), len(rows))
        if not self.items:
            raise DataNotFoundError(
                "kinetics_sounds",
                self.root,
                missing=[f"{sub}_spec/<name>.npy + frame folders for the list entries"],
                expected=KS_EXPECTED,
                source=KS_SOURCE,
            )
        self.train = train_transform
        self.n_frames = n_frames
        self.audio_shape = audio_shape
        self.transform = _image_transform(image_size, train_transform, IMAGENET_MEAN, IMAGENET_STD)
        self.rng = random.Random()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int]:
        name, label = self.items[i]
        path = self.spec_dir / f"{name}.npy"
        try:
            spec = np.load(path)
        except ValueError as err:
            raise DataFormatError(path, f"not a numpy array ({err})", source=KS_SOURCE) from None
        if spec.shape != self.audio_shape:
            raise DataFormatError(
                path, f"shape {spec.shape}", expected=f"a {self.audio_shape} fbank array", source=KS_SOURCE
            )
        audio = torch.from_numpy(spec.astype(np.float32))[None]  # (1, F, 128)
        folder = self.frame_dir / name
        n = len(list(folder.iterdir()))
        idx = frame_indices(n, self.n_frames, self.train, _torch_seeded_rng(self.rng))
        frames = [self.transform(Image.open(_frame_path(folder, t)).convert("RGB")) for t in idx]
        return [audio, torch.stack(frames, dim=1)], label  # clip (3, T, H, W)


def _torch_seeded_rng(rng: random.Random) -> random.Random:
    """Frame sampling draws from torch's generator so that DataLoader worker seeding makes it reproducible."""
    rng.seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    return rng


def ks_rows(root: Path, sub: str) -> list[tuple[str, str]]:
    return read_list(root / f"ks_{sub}_overlap.txt", "kinetics_sounds", root, KS_EXPECTED)


def class_index(labels: list[str]) -> dict[str, int]:
    """Integer labels map to themselves; class names map to their sorted position."""
    uniq = sorted(set(labels))
    if all(lab.lstrip("-").isdigit() for lab in uniq):
        return {lab: int(lab) for lab in uniq}
    return {lab: i for i, lab in enumerate(uniq)}


class UCF101Flow(Dataset):
    """UCF101 RGB + optical flow: items ``([rgb (3, T, H, W), flow (2, T, H, W)], label)``."""

    modality_names = ("rgb", "flow")

    def __init__(
        self,
        root: str | Path,
        split: str,
        fold: int = 1,
        train_transform: bool = False,
        image_size: int = 224,
        n_frames: int = 3,
        entries: list[tuple[str, int]] | None = None,
    ) -> None:
        self.root = Path(root)
        self.items = entries if entries is not None else ucf_entries(self.root, split, fold)
        self.train = train_transform
        self.n_frames = n_frames
        self.size = image_size
        self.rgb_transform = _image_transform(image_size, train_transform, IMAGENET_MEAN, IMAGENET_STD)
        self.rng = random.Random()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int]:
        from torchvision.transforms import functional as TF

        video, label = self.items[i]
        rgb_dir = self.root / "rgb" / video
        u_dir, v_dir = self.root / "flow" / f"{video}_u", self.root / "flow" / f"{video}_v"
        for d in (rgb_dir, u_dir, v_dir):
            if not d.is_dir():
                raise DataNotFoundError(
                    "ucf101",
                    self.root,
                    missing=[str(d.relative_to(self.root))],
                    expected=UCF_EXPECTED,
                    source=UCF_SOURCE,
                )
        n = min(len(list(rgb_dir.iterdir())), len(list(u_dir.iterdir())), len(list(v_dir.iterdir())))
        idx = frame_indices(n, self.n_frames, self.train, _torch_seeded_rng(self.rng))
        rgb = torch.stack([self.rgb_transform(Image.open(_frame_path(rgb_dir, t)).convert("RGB")) for t in idx], 1)
        flows = []
        for t in idx:
            uv = [
                TF.to_tensor(TF.resize(Image.open(_frame_path(d, t)).convert("L"), [self.size, self.size]))
                for d in (u_dir, v_dir)
            ]
            flows.append((torch.cat(uv, 0) - FLOW_MEAN) / FLOW_STD)  # (2, H, W)
        return [rgb, torch.stack(flows, 1)], label  # (3, T, H, W), (2, T, H, W)


def ucf_entries(root: Path, split: str, fold: int) -> list[tuple[str, int]]:
    """``(video stem, 0-based label)`` pairs of a standard split list (labels from classInd.txt, 1-based)."""
    lists = root / "ucfTrainTestlist"
    cls_rows = read_list(lists / "classInd.txt", "ucf101", root, UCF_EXPECTED)
    classes = {name: int(idx) - 1 for idx, name in cls_rows}
    rows = read_list(
        lists / f"{'train' if split == 'train' else 'test'}list{fold:02d}.txt", "ucf101", root, UCF_EXPECTED
    )
    out = []
    for entry, _ in rows:
        cls, _, fname = entry.partition("/")
        if cls not in classes:
            raise DataFormatError(lists, f"class '{cls}' of '{entry}' is not in classInd.txt")
        out.append((Path(fname).stem, classes[cls]))
    return out
