"""What every BCI Competition IV-2a loader shares: montage, classes, sources, windowing, checks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import decimate

from paperkit.errors import DataFormatError

__all__ = [
    "BCICIV_SOURCE",
    "BNCI_SOURCE",
    "CLASSES",
    "EEG_CHANNELS",
    "Session",
    "extract_windows",
    "window_samples",
]

log = logging.getLogger(__name__)

EEG_CHANNELS: tuple[str, ...] = (
    "Fz", "FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2",
    "C4", "C6", "CP3", "CP1", "CPz", "CP2", "CP4", "P1", "Pz", "P2", "POz",
)  # fmt: skip
CLASSES: tuple[str, ...] = ("left_hand", "right_hand", "feet", "tongue")
BNCI_SOURCE = "http://bnci-horizon-2020.eu/database/data-sets (data set 001-2014)"
BCICIV_SOURCE = (
    "https://www.bbci.de/competition/iv/ (data set 2a; true labels of the E sessions: /competition/iv/results/)"
)


@dataclass
class Session:
    """One recording session as trials: X (N, 22, T) float32 µV, y (N,) int64 (-1 = unknown), recording order."""

    x: np.ndarray
    y: np.ndarray
    subject: int
    session: str
    sfreq: float
    rejected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (N,) artefact flags
    nan_samples: int = 0  # NaN samples found (and interpolated) in the continuous signal
    channels: tuple[str, ...] | None = None  # channel names of x, None when the file does not name them
    source_sfreq: float | None = None  # the file's own sampling rate (None when the format does not state it)


def window_samples(tmin: float, tmax: float, sfreq: float) -> int:
    """Number of samples of the window [tmin, tmax) s after trial start (1125 for 1.5-6.0 s at 250 Hz)."""
    return round((tmax - tmin) * sfreq)


def extract_windows(
    signal: np.ndarray, starts: np.ndarray, tmin: float, tmax: float, fs: float, sfreq: float, path: str | Path
) -> np.ndarray:
    """Cut [start + tmin, start + tmax) from a continuous (C, S) signal at ``fs`` and bring it to ``sfreq``.

    ``starts`` are 0-based trial-start samples. Returns (N, C, window_samples(tmin, tmax, sfreq)) float32.
    """
    q = fs / sfreq
    if abs(q - round(q)) > 1e-6 or q < 1:
        raise DataFormatError(path, f"sampling rate {fs:g} Hz cannot be decimated to {sfreq:g} Hz by an integer factor")
    q = round(q)
    n = window_samples(tmin, tmax, sfreq) * q
    first = starts + round(tmin * fs)
    if first.min(initial=0) < 0 or (first + n).max(initial=0) > signal.shape[1]:
        raise DataFormatError(path, f"a trial window {tmin}-{tmax} s runs past the end of the recording")
    idx = first[:, None] + np.arange(n)[None, :]  # (N, n)
    win = signal[:, idx].transpose(1, 0, 2)  # (N, C, n)
    if q > 1:
        win = decimate(win, q, ftype="fir", zero_phase=True, axis=-1)
    return np.ascontiguousarray(win, dtype=np.float32)
