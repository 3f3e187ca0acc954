"""Fixtures writing tiny data sets in the official on-disk layouts (Kinetics-Sounds, UCF101 RGB + TV-L1 flow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _jpg(path: Path, rng: np.random.Generator, mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path, format="JPEG")


def write_kinetics_sounds(
    root: Path, n_train: int = 6, n_test: int = 3, n_classes: int = 3, n_frames: int = 10, spec_shape=(1024, 128)
) -> Path:
    """Official KS layout: list files, {train,test}_spec/<name>.npy, 1-fps frame folders named frame_0000{t}.jpg."""
    rng = np.random.default_rng(0)
    train_names = [f"yt{i:03d}abcdEF_{i * 10:06d}_{i * 10 + 10:06d}" for i in range(n_train)]  # train: time suffix
    test_names = [f"te{i:03d}xyzXYZ" for i in range(n_test)]  # test names have no time suffix
    for names, spec_dir, frames_dir in ((train_names, "train_spec", "train-frames-1fps/train"),
                                        (test_names, "test_spec", "val-frames-1fps/test")):  # fmt: skip
        (root / spec_dir).mkdir(parents=True, exist_ok=True)
        for name in names:
            np.save(root / spec_dir / f"{name}.npy", rng.normal(size=spec_shape).astype(np.float32))
            for t in range(1, n_frames + 1):
                _jpg(root / frames_dir / name / f"frame_{t:05d}.jpg", rng)
    train_lines = [f"{name} {i % n_classes}" for i, name in enumerate(train_names)]
    test_lines = [f"{name} {i % n_classes}" for i, name in enumerate(test_names)]
    (root / "ks_train_overlap.txt").write_text("\n".join(train_lines) + "\n")
    (root / "ks_test_overlap.txt").write_text("\n".join(test_lines) + "\n")
    return root


def write_ucf101(root: Path, classes=("ApplyEyeMakeup", "Archery"), per_class: int = 3, n_frames: int = 8) -> Path:
    """UCF101: ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt, rgb/<video>/%06d.jpg, flow/<video>_{u,v}/."""
    rng = np.random.default_rng(1)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    train, test = [], []
    for ci, cls in enumerate(classes):
        for g in range(per_class):
            video = f"v_{cls}_g{g + 1:02d}_c01"
            (train if g < per_class - 1 else test).append((f"{cls}/{video}.avi", ci + 1))
            for t in range(1, n_frames + 1):
                _jpg(root / "rgb" / video / f"{t:06d}.jpg", rng)
            for t in range(1, n_frames):  # TV-L1 gives one flow field fewer than frames
                _jpg(root / "flow" / f"{video}_u" / f"{t:06d}.jpg", rng, mode="L")
                _jpg(root / "flow" / f"{video}_v" / f"{t:06d}.jpg", rng, mode="L")
    (lists / "trainlist01.txt").write_text("".join(f"{v} {c}\n" for v, c in train))
    (lists / "testlist01.txt").write_text("".join(f"{v}\n" for v, _ in test))
    return root


def _wav(path: Path, rng: np.random.Generator, seconds: float = 0.7, sr: int = 16000) -> None:
    from scipy.io import wavfile

    path.parent.mkdir(parents=True, exist_ok=True)
    wave = 0.2 * rng.normal(size=int(sr * seconds))
    wavfile.write(path, sr, (wave * 32767).astype(np.int16))


def write_vggsound(root: Path, n_frames: int = 5) -> Path:
    """VGGSound in the KS layout: the official vggsound.csv (quoted class names with commas), raw audio as
    {train,test}_wav/<split>/<name>.wav for some clips and {train,test}_spec/<name>.npy for others, 1-fps frames
    named as the official loader names them (frame_0000{t}.jpg), <name> = <ytid>_<start:06d>."""
    rng = np.random.default_rng(2)
    classes = ["dog barking", "cattle, bovinae cowbell", "rain"]
    rows = []
    for i in range(9):
        split = "test" if i % 3 == 2 else "train"
        ytid, start = f"-a{i}Xy_Z{i}", 10 * i
        rows.append(f'{ytid},{start},"{classes[i % 3]}",{split}')
        name = f"{ytid}_{start:06d}"
        frames = root / ("train-frames-1fps/train" if split == "train" else "val-frames-1fps/test") / name
        for t in range(1, n_frames + 1):
            _jpg(frames / f"frame_0000{t}.jpg", rng)
        if i % 2:
            _wav(root / f"{split}_wav" / split / f"{name}.wav", rng)
        else:
            (root / f"{split}_spec").mkdir(parents=True, exist_ok=True)
            np.save(root / f"{split}_spec" / f"{name}.npy", rng.normal(size=(64, 128)).astype(np.float32))
    (root / "vggsound.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def ks_root(tmp_path: Path) -> Path:
    return write_kinetics_sounds(tmp_path / "ks", spec_shape=(64, 128))


@pytest.fixture
def ucf_root(tmp_path: Path) -> Path:
    return write_ucf101(tmp_path / "ucf")


@pytest.fixture(scope="session")
def layouts():
    """The writers above, for tests that build their own variants (``layouts.ks(root, ...)``, ``layouts.jpg(...)``)."""

    class Layouts:
        ks = staticmethod(write_kinetics_sounds)
        ucf = staticmethod(write_ucf101)
        vgg = staticmethod(write_vggsound)
        wav = staticmethod(_wav)
        jpg = staticmethod(_jpg)

    return Layouts
