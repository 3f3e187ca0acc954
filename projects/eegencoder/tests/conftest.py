"""Fixture writers in the official formats: BNCI Horizon ``.mat`` sessions and GDF 2 competition files.

The GDF writer follows the GDF 2.x specification (Schlögl 2006/2009, as implemented by BioSig): a 256-byte fixed
header, 256 bytes of variable header per channel, the data records, then the event table (mode 3). It is our own
code, written so that ``mne.io.read_raw_gdf`` can be tested on files it did not produce.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from eegencoder.datasets import EEG_CHANNELS, GDF_EEG_NAMES, GDF_EOG_NAMES, SyntheticMI, generate_session

FS = 250
TRIAL_PERIOD = 2000  # samples between trial starts (8 s)
WINDOW = (375, 1500)  # 1.5-6.0 s after the trial start


@dataclass
class FakeSession:
    """What a fixture file contains: the continuous signal and the windows a correct loader must return."""

    signal: np.ndarray  # (25, S) µV: 22 EEG + 3 EOG
    starts: np.ndarray  # (N,) 0-based trial-start samples
    y: np.ndarray  # (N,) 0-3
    windows: np.ndarray  # (N, 22, 1125) the EEG pasted at [start + 375, start + 1500)
    artifacts: np.ndarray  # (N,) bool


def make_session(n_trials: int = 8, seed: int = 0, session: str = "T") -> FakeSession:
    """A continuous recording with synthetic MI trials pasted into it at 250 Hz."""
    cfg = SyntheticMI(sfreq=FS, n_times=WINDOW[1] - WINDOW[0], trials_per_class=max(1, n_trials // 4))
    x, y = generate_session(cfg, seed, 1, session)
    x, y = x[:n_trials], y[:n_trials]
    rng = np.random.default_rng(seed)
    n = len(y)
    s_total = TRIAL_PERIOD * (n + 1)
    signal = rng.normal(0, 5, size=(25, s_total)).astype(np.float32)
    starts = TRIAL_PERIOD // 2 + TRIAL_PERIOD * np.arange(n)
    for i, s in enumerate(starts):
        signal[:22, s + WINDOW[0] : s + WINDOW[1]] = x[i]
    return FakeSession(signal, starts, y, x, rng.random(n) < 0.2)


# ----------------------------------------------------------------------------------------------------------------------
# BNCI .mat
# ----------------------------------------------------------------------------------------------------------------------
def write_bnci_mat(
    path: Path, runs: list[FakeSession], n_eog_runs: int = 1, n_channels: int = 25, with_labels: bool = True
) -> Path:
    """``data``: 1 x R cell of structs (X, trial, y, fs, classes, artifacts, gender, age), EOG runs first; without
    ``y`` in the trial runs when ``with_labels`` is False (a user's unlabeled recording)."""
    classes = np.array(["left hand", "right hand", "feet", "tongue"], dtype=object)
    cells = []
    for _ in range(n_eog_runs):  # calibration runs: signal but no trials
        cells.append(
            {
                "X": np.zeros((500, n_channels)),
                "trial": np.zeros((0, 1)),
                "y": np.zeros((0, 1)),
                "fs": FS,
                "classes": classes,
                "artifacts": np.zeros((0, 1)),
                "gender": "f",
                "age": 24,
            }
        )
    for r in runs:
        cell = {
            "X": r.signal[:n_channels].T.astype(np.float64),  # samples x channels
            "trial": (r.starts + 1).reshape(-1, 1).astype(np.float64),  # MATLAB 1-based
            "y": (r.y + 1).reshape(-1, 1).astype(np.float64),
            "fs": FS,
            "classes": classes,
            "artifacts": r.artifacts.astype(np.float64).reshape(-1, 1),
            "gender": "f",
            "age": 24,
        }
        if not with_labels:
            del cell["y"]
        cells.append(cell)
    data = np.empty((1, len(cells)), dtype=object)
    for i, c in enumerate(cells):
        data[0, i] = c
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"data": data})
    return path


# ----------------------------------------------------------------------------------------------------------------------
# GDF 2.x
# ----------------------------------------------------------------------------------------------------------------------
def _pad(text: str, n: int) -> bytes:
    b = text.encode("ascii")[:n]
    return b + b"\x00" * (n - len(b)) if len(b) < n else b


def write_gdf(
    path: Path,
    signal: np.ndarray,
    ch_names: list[str],
    events: list[tuple[int, int]],
    fs: int = FS,
    record_samples: int = FS,
) -> Path:
    """Write a GDF 2.20 file: float32 samples in µV, ``events`` = [(0-based sample, type code)] (mode 3 table)."""
    ns, n = signal.shape
    n_rec = -(-n // record_samples)
    data = np.zeros((ns, n_rec * record_samples), dtype=np.float32)
    data[:, :n] = signal
    days = (datetime(2008, 6, 1) - datetime(1, 1, 1)).days + 367  # GDF: days since 0000-01-01 in the high 32 bits
    fixed = b"".join(
        [
            b"GDF 2.20",
            _pad("X A01 anonymous", 66),  # patient id
            b"\x00" * 10,  # reserved
            bytes([0, 0, 0, 0]),  # smoking/alcohol/drug/medication, weight, height, gender/handedness/visual
            _pad("BCI IV 2a fixture", 64),  # recording id
            bytes(4) + struct.pack("<IIi", 0, 0, 0),  # location: vertpre/horzpre/size/version, lat, long, alt
            struct.pack("<Q", days << 32),  # start of recording
            struct.pack("<Q", 0),  # birthday unknown
            struct.pack("<H", 1 + ns),  # header length in 256-byte blocks
            bytes(6),  # patient classification
            bytes(8),  # equipment provider
            bytes(6),  # reserved
            struct.pack("<3H", 0, 0, 0),  # head size (mm)
            struct.pack("<3f", 0, 0, 0),  # reference electrode position
            struct.pack("<3f", 0, 0, 0),  # ground electrode position
            struct.pack("<q", n_rec),  # number of data records
            struct.pack("<2I", record_samples, fs),  # record duration = num/den seconds
            struct.pack("<H", ns),  # number of signals
            bytes(2),  # reserved
        ]
    )
    assert len(fixed) == 256, len(fixed)
    big = 1e5
    var = b"".join(
        [
            b"".join(_pad(c, 16) for c in ch_names),  # labels
            b"".join(_pad("Ag/AgCl electrode", 80) for _ in ch_names),  # transducer type
            b"".join(_pad("uV", 6) for _ in ch_names),  # physical dimension (obsolete text)
            struct.pack(f"<{ns}H", *[4275] * ns),  # physical dimension code: µV
            struct.pack(f"<{ns}d", *[-big] * ns),  # physical min
            struct.pack(f"<{ns}d", *[big] * ns),  # physical max
            struct.pack(f"<{ns}d", *[-big] * ns),  # digital min
            struct.pack(f"<{ns}d", *[big] * ns),  # digital max
            bytes(68 * ns),  # pre-filtering text (obsolete)
            struct.pack(f"<{ns}f", *[100.0] * ns),  # low-pass
            struct.pack(f"<{ns}f", *[0.5] * ns),  # high-pass
            struct.pack(f"<{ns}f", *[50.0] * ns),  # notch
            struct.pack(f"<{ns}i", *[record_samples] * ns),  # samples per record
            struct.pack(f"<{ns}i", *[16] * ns),  # data type 16 = float32
            bytes(12 * ns),  # electrode positions xyz
            bytes(20 * ns),  # impedance (float32) + reserved, GDF >= 2.19
        ]
    )
    assert len(var) == 256 * ns, len(var)
    # data records: per record, channel after channel, record_samples values each
    records = data.reshape(ns, n_rec, record_samples).transpose(1, 0, 2).astype("<f4").tobytes()
    pos = np.array([p + 1 for p, _ in events], dtype="<u4")  # 1-based
    typ = np.array([t for _, t in events], dtype="<u2")
    ne = len(events)
    table = b"".join(
        [
            bytes([3]),  # mode 3: position, type, channel, duration
            ne.to_bytes(3, "little"),
            struct.pack("<f", float(fs)),
            pos.tobytes(),
            typ.tobytes(),
            np.zeros(ne, dtype="<u2").tobytes(),
            np.full(ne, 500, dtype="<u4").tobytes(),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fixed + var + records + table)
    return path


def write_competition_gdf(path: Path, sess: FakeSession, with_cues: bool = True, reject: tuple[int, ...] = ()) -> Path:
    """A competition-style session: 768 trial start, cue 769-772 at +2 s (783 when ``with_cues`` is False)."""
    events = [(0, 32766)]  # new run
    for i, (s, y) in enumerate(zip(sess.starts, sess.y)):
        events.append((int(s), 768))
        if i in reject:
            events.append((int(s), 1023))
        events.append((int(s) + 500, 769 + int(y) if with_cues else 783))
    return write_gdf(path, sess.signal, [*GDF_EEG_NAMES, *GDF_EOG_NAMES], events)


def write_classlabels(path: Path, y: np.ndarray) -> Path:
    scipy.io.savemat(path, {"classlabel": (y + 1).reshape(-1, 1).astype(np.uint8)})
    return path


@pytest.fixture
def fixtures_io():
    """The writers, for tests that build their own files."""

    class IO:
        make_session = staticmethod(make_session)
        write_bnci_mat = staticmethod(write_bnci_mat)
        write_gdf = staticmethod(write_gdf)
        write_competition_gdf = staticmethod(write_competition_gdf)
        write_classlabels = staticmethod(write_classlabels)

    return IO


@pytest.fixture
def bnci_root(tmp_path: Path) -> tuple[Path, dict[str, list[FakeSession]]]:
    """``<tmp>/bnci/A01T.mat`` + ``A01E.mat``: 1 EOG run + 2 runs of 8 trials each per session."""
    root = tmp_path / "bnci"
    content = {}
    for k, sess in enumerate("TE"):
        runs = [make_session(8, seed=10 * k + r, session=sess) for r in range(2)]
        write_bnci_mat(root / f"A01{sess}.mat", runs)
        content[sess] = runs
    return root, content


__all__ = ["EEG_CHANNELS", "FakeSession"]


# ----------------------------------------------------------------------------------------------------------------------
# UEA / aeon .ts (FingerMovements layout)
# ----------------------------------------------------------------------------------------------------------------------
def write_ts(path: Path, x: np.ndarray, labels: list[str] | None, classes: list[str], name: str = "Fix") -> Path:
    """A multivariate equal-length ``.ts`` file as the UEA archive writes it: comments, ``@`` header, ``@data``,
    then per trial the channels separated by ``:`` (samples by ``,``) and the label last."""
    n, c, t = x.shape
    head = [
        "#a comment line, as in the archive's files",
        f"@problemName {name}",
        "@timeStamps false",
        "@missing false",
        "@univariate false",
        f"@dimensions {c}",
        "@equalLength true",
        f"@seriesLength {t}",
        f"@classLabel {'true ' + ' '.join(classes) if labels is not None else 'false'}",
        "@data",
    ]
    rows = []
    for i in range(n):
        chans = ":".join(",".join(f"{v:.4f}" for v in x[i, ch]) for ch in range(c))
        rows.append(chans + (f":{labels[i]}" if labels is not None else ""))
    path.write_text("\n".join(head + rows) + "\n")
    return path


@pytest.fixture
def ts_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``<tmp>/ts/Fix/Fix_{TRAIN,TEST}.ts`` + ``Fix.txt`` (4 channels x 30 samples, classes stated as 'b a')."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "ts" / "Fix"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("TRAIN", 20), ("TEST", 8)):
        x = rng.normal(size=(n, 4, 30)).astype(np.float32)
        y = np.arange(n) % 2
        x[:, 0] += 2.0 * y[:, None]  # class 1 ('a') has a higher first channel
        write_ts(folder / f"Fix_{split}.ts", x, [("b", "a")[k] for k in y], ["b", "a"])
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    (folder / "Fix.txt").write_text("Four channels in the following order:\n(C3, Cz,\n C4, POz).\n")
    return tmp_path / "ts", out


@pytest.fixture
def ts_writer():
    """:func:`write_ts`, for tests that build their own ``.ts`` files."""
    return write_ts
