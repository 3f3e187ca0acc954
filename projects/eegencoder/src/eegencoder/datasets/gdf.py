"""BCI Competition IV-2a in its original GDF format, read with ``mne.io.read_raw_gdf``.

``A0{s}T.gdf`` / ``A0{s}E.gdf``: 22 EEG channels (``EEG-Fz``, ``EEG-0`` ... ``EEG-16``, ``EEG-C3``, ``EEG-Cz``,
``EEG-C4``, ``EEG-Pz``) and 3 EOG channels, 250 Hz, with the events as annotations: 768 trial start, 769-772 cue
left/right/feet/tongue, 783 cue unknown (E sessions), 1023 rejected trial. The E labels come from ``A0{s}E.mat``
(variable ``classlabel``, 1-4) published after the competition. The signal contains NaN samples (saturation,
run boundaries): they are counted and linearly interpolated per channel.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.io

from eegencoder.datasets.common import BCICIV_SOURCE, EEG_CHANNELS, Session, extract_windows
from paperkit.errors import DataFormatError

__all__ = ["GDF_EEG_NAMES", "GDF_EOG_NAMES", "load_classlabels", "load_gdf_session"]

log = logging.getLogger(__name__)

# Channel labels inside the competition GDF files, in the order of EEG_CHANNELS.
GDF_EEG_NAMES: tuple[str, ...] = (
    "EEG-Fz", "EEG-0", "EEG-1", "EEG-2", "EEG-3", "EEG-4", "EEG-5", "EEG-C3", "EEG-6", "EEG-Cz", "EEG-7",
    "EEG-C4", "EEG-8", "EEG-9", "EEG-10", "EEG-11", "EEG-12", "EEG-13", "EEG-14", "EEG-Pz", "EEG-15", "EEG-16",
)  # fmt: skip
GDF_EOG_NAMES: tuple[str, ...] = ("EOG-left", "EOG-central", "EOG-right")
_CUES = {"769": 0, "770": 1, "771": 2, "772": 3}
_TRIAL_START, _UNKNOWN_CUE, _REJECTED = "768", "783", "1023"


def load_classlabels(path: str | Path, n_expected: int | None = None) -> np.ndarray:
    """True labels (0-3) from the competition's ``A0{s}E.mat`` (variable ``classlabel``, N x 1, values 1-4)."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:
        raise DataFormatError(path, f"not a readable MATLAB file ({err})", source=BCICIV_SOURCE) from err
    if "classlabel" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataFormatError(path, f"no variable 'classlabel' (found {keys})", source=BCICIV_SOURCE)
    y = np.asarray(mat["classlabel"]).astype(np.int64).ravel() - 1
    if n_expected is not None and y.size != n_expected:
        raise DataFormatError(path, f"{y.size} labels for {n_expected} trials in the GDF file", source=BCICIV_SOURCE)
    return y


def _interpolate_nans(data: np.ndarray) -> int:
    """Replace NaNs in a (C, S) signal by linear interpolation per channel, in place; returns their count."""
    bad = np.isnan(data)
    n_bad = int(bad.sum())
    if n_bad:
        idx = np.arange(data.shape[1])
        for c in np.flatnonzero(bad.any(axis=1)):
            ok = ~bad[c]
            data[c, bad[c]] = np.interp(idx[bad[c]], idx[ok], data[c, ok]) if ok.any() else 0.0
    return n_bad


def load_gdf_session(
    path: str | Path,
    subject: int,
    session: str,
    labels_path: str | Path | None = None,
    tmin: float = 1.5,
    tmax: float = 6.0,
    sfreq: float = 250.0,
    require_labels: bool = True,
) -> Session:
    """Trials of one competition GDF session; labels from the cue events, or from ``labels_path`` when given.

    ``require_labels=False`` (``predict``): an E session without its labels file keeps label -1 for unknown cues."""
    import mne  # heavy import, only for this format

    path = Path(path)
    try:
        raw = mne.io.read_raw_gdf(path, eog=list(GDF_EOG_NAMES), preload=True, verbose="error")
    except Exception as err:
        raise DataFormatError(path, f"mne cannot read it as GDF ({err})", source=BCICIV_SOURCE) from err
    missing = [c for c in GDF_EEG_NAMES if c not in raw.ch_names]
    if missing:
        raise DataFormatError(
            path,
            f"wrong channel set: found {raw.ch_names}, missing {missing}",
            expected=f"the 22 EEG channels {list(GDF_EEG_NAMES)} (+ EOG)",
            source=BCICIV_SOURCE,
        )
    fs = float(raw.info["sfreq"])
    data = raw.get_data(picks=list(GDF_EEG_NAMES)) * 1e6  # (22, S) V -> µV
    n_nan = _interpolate_nans(data)
    if n_nan:
        log.info("%s: %d NaN samples interpolated", path.name, n_nan)

    onsets = np.round(raw.annotations.onset * fs).astype(np.int64)
    desc = np.asarray(raw.annotations.description)
    starts = onsets[desc == _TRIAL_START]
    if starts.size == 0:
        raise DataFormatError(path, "no trial-start events (768)", source=BCICIV_SOURCE)
    bounds = np.append(starts, np.iinfo(np.int64).max)
    y = np.full(starts.size, -1, dtype=np.int64)
    rejected = np.zeros(starts.size, dtype=bool)
    for i in range(starts.size):  # events that belong to trial i lie in [start_i, start_{i+1})
        inside = (onsets >= bounds[i]) & (onsets < bounds[i + 1])
        for d in desc[inside]:
            if d in _CUES:
                y[i] = _CUES[d]
            rejected[i] |= d == _REJECTED
    if labels_path is not None:
        y = load_classlabels(labels_path, starts.size)
    elif require_labels and (y < 0).any():
        raise DataFormatError(
            path,
            f"{int((y < 0).sum())} trials have no class cue (783 = unknown): the true labels file is needed",
            source=BCICIV_SOURCE,
        )
    x = extract_windows(data, starts, tmin, tmax, fs, sfreq, path)
    return Session(x, y, subject, session, sfreq, rejected, n_nan, EEG_CHANNELS, fs)


assert len(GDF_EEG_NAMES) == len(EEG_CHANNELS)
