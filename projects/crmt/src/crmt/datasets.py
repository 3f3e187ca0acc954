"""Real-format loaders (paper Sec. 5.1 "datasets"): Kinetics-Sounds (official CRMT layout), UCF101 RGB + TV-L1 flow.

Kinetics-Sounds (official ``dataset/KSDataset``-style layout, ``root`` = the official ``data/`` folder)::

    root/ks_train_overlap.txt            <name> <label>      (train names carry a _<start6>_<end6> suffix)
    root/ks_test_overlap.txt             <name> <label>
    root/train_spec/<name>.npy           float (1024, 128) Kaldi fbank, already normalised
    root/test_spec/<name>.npy            (or the raw root/{train,test}_wav/{train,test}/<name>.wav: fbank on the fly)
    root/train-frames-1fps/train/<name>/frame_0000{t}.jpg ...   (1 fps; official name for any t, 000001.jpg also read)
    root/val-frames-1fps/test/<name>/...

VGGSound (no official loader; the same preprocessing and folders, lists from the official ``vggsound.csv``)::

    root/vggsound.csv                    <ytid>,<start seconds>,<label>,<train|test>
    root/{train,test}_spec/<name>.npy | root/{train,test}_wav/{train,test}/<name>.wav,  <name> = <ytid>_<start:06d>
    root/train-frames-1fps/train/<name>/..., root/val-frames-1fps/test/<name>/...

A sample is kept only if its audio exists and its frame folder holds more than 3 jpg files (official rule). Three frames
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
    "VGG_SOURCE",
    "KineticsSounds",
    "UCF101Flow",
    "frame_indices",
    "frame_names",
    "read_frames",
    "read_list",
    "ucf_clip",
    "vggsound_rows",
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
VGG_SOURCE = (
    "https://www.robots.ox.ac.uk/~vgg/data/vggsound/ (vggsound.csv + YouTube clips); audio and 1-fps frames "
    "extracted as for Kinetics-Sounds with the CRMT repository's pre-processing scripts"
)
VGG_EXPECTED = {
    "vggsound.csv": None,
    "train_spec": ["<name>.npy"],
    "test_spec": ["<name>.npy"],
    "(or) train_wav": {"train": ["<name>.wav"]},
    "(or) test_wav": {"test": ["<name>.wav"]},
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


def frame_names(t: int) -> tuple[str, ...]:
    """File names frame t (1-based) may have: the official loader's ``'frame_0000' + str(t)`` for any t
    (``frame_00001.jpg``, ``frame_000012.jpg``), the same zero-padded to 5 digits, and the extraction script's
    ``%06d.jpg``."""
    return tuple(dict.fromkeys((f"frame_0000{t}.jpg", f"frame_{t:05d}.jpg", f"{t:06d}.jpg")))


def _frame_path(folder: Path, t: int) -> Path:
    names = frame_names(t)
    for name in names:
        p = folder / name
        if p.is_file():
            return p
    raise DataFormatError(folder, f"frame {t} not found", expected=" or ".join(names))


def count_frames(folder: Path) -> int:
    return sum(1 for f in folder.iterdir() if f.suffix.lower() == ".jpg")


def read_frames(folder: Path, n_frames: int, train: bool, transform, rng: random.Random) -> Tensor:
    """``(3, T, H, W)`` frames of one clip folder (official KS sampling, :func:`frame_indices`)."""
    if not folder.is_dir():
        raise DataNotFoundError("frames", folder.parent, missing=[folder.name], expected={folder.name: ["..."]})
    n = count_frames(folder)
    if n == 0:
        raise DataFormatError(folder, "no .jpg frames", expected="frame_0000{t}.jpg (t = 1, 2, ...) or 000001.jpg ...")
    idx = frame_indices(n, n_frames, train, rng)
    frames = []
    for t in idx:
        path = _frame_path(folder, t)
        try:
            frames.append(transform(Image.open(path).convert("RGB")))
        except (OSError, ValueError) as err:
            raise DataFormatError(path, f"not a readable image ({err})", expected="a JPEG frame") from None
    return torch.stack(frames, dim=1)


def image_transform(size: int, train: bool, mean: tuple[float, ...], std: tuple[float, ...]):
    from torchvision import transforms as T

    ops = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()] if train else [T.Resize((size, size))]
    return T.Compose([*ops, T.ToTensor(), T.Normalize(mean, std)])


class KineticsSounds(Dataset):
    """Kinetics-Sounds (and VGGSound, same layout): items ``([audio (1, F, 128), clip (3, T, H, W)], label)``.

    Audio per sample: ``<split>_spec/<name>.npy`` (the official normalised fbank) if it exists, else the raw
    ``<split>_wav/<split>/<name>.wav`` through :func:`crmt.audio.normalised_fbank` (the official extraction, on the
    fly).
    """

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
        dataset: str = "kinetics_sounds",
    ) -> None:
        self.root = Path(root)
        self.dataset = dataset
        sub = "train" if split == "train" else "test"
        self.spec_dir = self.root / f"{sub}_spec"
        self.wav_dir = self.root / f"{sub}_wav" / sub
        self.frame_dir = self.root / ("train-frames-1fps/train" if sub == "train" else "val-frames-1fps/test")
        expected, source = (KS_EXPECTED, KS_SOURCE) if dataset == "kinetics_sounds" else (VGG_EXPECTED, VGG_SOURCE)
        rows = names if names is not None else ks_rows(self.root, sub)
        missing = [d for d in (self.frame_dir,) if not d.is_dir()]
        if not self.spec_dir.is_dir() and not self.wav_dir.is_dir():
            missing.insert(0, self.spec_dir)
        if missing:
            raise DataNotFoundError(
                dataset, self.root, missing=[str(d.relative_to(self.root)) for d in missing], expected=expected,
                source=source,
            )  # fmt: skip
        self.items = []
        for name, label in rows:
            folder = self.frame_dir / name
            audio = self._audio_path(name)
            if audio is not None and folder.is_dir() and count_frames(folder) > 3:
                self.items.append((name, class_to_idx[label]))
        if len(self.items) < len(rows):
            log.info("%s/%s: kept %d of %d samples (audio + >3 frames)", dataset, sub, len(self.items), len(rows))
        if not self.items:
            raise DataNotFoundError(
                dataset,
                self.root,
                missing=[f"{sub}_spec/<name>.npy (or {sub}_wav/{sub}/<name>.wav) + frame folders for the list entries"],
                expected=expected,
                source=source,
            )
        self.train = train_transform
        self.n_frames = n_frames
        self.audio_shape = audio_shape
        self.transform = image_transform(image_size, train_transform, IMAGENET_MEAN, IMAGENET_STD)
        self.rng = random.Random()

    def _audio_path(self, name: str) -> Path | None:
        for p in (self.spec_dir / f"{name}.npy", self.wav_dir / f"{name}.wav"):
            if p.is_file():
                return p
        return None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int]:
        from crmt.audio import normalised_fbank, read_wav

        name, label = self.items[i]
        path = self._audio_path(name)
        source = KS_SOURCE if self.dataset == "kinetics_sounds" else VGG_SOURCE
        if path is None:
            raise DataNotFoundError(self.dataset, self.root, missing=[f"{self.spec_dir.name}/{name}.npy"])
        if path.suffix == ".wav":
            wave, sr = read_wav(path)
            spec = normalised_fbank(wave, sr, self.audio_shape[0]).numpy()
        else:
            try:
                spec = np.load(path)
            except ValueError as err:
                raise DataFormatError(path, f"not a numpy array ({err})", source=source) from None
        if spec.shape != self.audio_shape:
            raise DataFormatError(
                path, f"shape {spec.shape}", expected=f"a {self.audio_shape} fbank array", source=source
            )
        audio = torch.from_numpy(spec.astype(np.float32))[None]  # (1, F, 128)
        rng = _torch_seeded_rng(self.rng)
        clip = read_frames(self.frame_dir / name, self.n_frames, self.train, self.transform, rng)
        return [audio, clip], label  # clip (3, T, H, W)


def _torch_seeded_rng(rng: random.Random) -> random.Random:
    """Frame sampling draws from torch's generator so that DataLoader worker seeding makes it reproducible."""
    rng.seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    return rng


def ks_rows(root: Path, sub: str) -> list[tuple[str, str]]:
    return read_list(root / f"ks_{sub}_overlap.txt", "kinetics_sounds", root, KS_EXPECTED)


def vggsound_rows(root: Path) -> dict[str, list[tuple[str, str]]]:
    """``{"train": [(name, label)], "test": [...]}`` from the official ``vggsound.csv`` (``<ytid>,<start seconds>,
    <label>,<train|test>``; labels are class names, quoted when they hold a comma). The sample name is
    ``<ytid>_<start:06d>`` (the Kinetics-Sounds style), or ``<ytid>_<start>`` (OGM-GE's) when only that folder exists.
    """
    import csv

    path = root / "vggsound.csv"
    if not path.is_file():
        raise DataNotFoundError("vggsound", root, missing=[path.name], expected=VGG_EXPECTED, source=VGG_SOURCE)
    out: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    expected = "'<ytid>,<start seconds>,<label>,<train|test>' per line (the official vggsound.csv)"
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f)):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 4 or row[3].strip() not in out or not row[1].strip().isdigit():
                raise DataFormatError(path, f"line {n + 1} is {row!r}", expected=expected, source=VGG_SOURCE)
            ytid, start, label, split = (c.strip() for c in row)
            name = f"{ytid}_{int(start):06d}"
            frames = root / ("train-frames-1fps/train" if split == "train" else "val-frames-1fps/test")
            if not (frames / name).is_dir() and (frames / f"{ytid}_{start}").is_dir():
                name = f"{ytid}_{start}"
            out[split].append((name, label))
    return out


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
        self.rgb_transform = image_transform(image_size, train_transform, IMAGENET_MEAN, IMAGENET_STD)
        self.rng = random.Random()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int]:
        video, label = self.items[i]
        dirs = [self.root / "rgb" / video, self.root / "flow" / f"{video}_u", self.root / "flow" / f"{video}_v"]
        for d in dirs:
            if not d.is_dir():
                raise DataNotFoundError(
                    "ucf101",
                    self.root,
                    missing=[str(d.relative_to(self.root))],
                    expected=UCF_EXPECTED,
                    source=UCF_SOURCE,
                )
        rng = _torch_seeded_rng(self.rng)
        return ucf_clip(*dirs, self.n_frames, self.train, self.rgb_transform, self.size, rng), label


def ucf_clip(
    rgb_dir: Path, u_dir: Path, v_dir: Path, n_frames: int, train: bool, rgb_transform, size: int, rng: random.Random
) -> list[Tensor]:
    """``[rgb (3, T, H, W), flow (2, T, H, W)]`` of one video: the same frame indices in the three folders."""
    from torchvision.transforms import functional as TF

    n = min(count_frames(rgb_dir), count_frames(u_dir), count_frames(v_dir))
    if n == 0:
        raise DataFormatError(rgb_dir, "no .jpg frames in the rgb or flow folders", expected="000001.jpg ...")
    idx = frame_indices(n, n_frames, train, rng)
    rgb = torch.stack([rgb_transform(Image.open(_frame_path(rgb_dir, t)).convert("RGB")) for t in idx], 1)
    flows = []
    for t in idx:
        uv = [TF.to_tensor(TF.resize(Image.open(_frame_path(d, t)).convert("L"), [size, size])) for d in (u_dir, v_dir)]
        flows.append((torch.cat(uv, 0) - FLOW_MEAN) / FLOW_STD)  # (2, H, W)
    return [rgb, torch.stack(flows, 1)]  # (3, T, H, W), (2, T, H, W)


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
