"""BNCI Horizon 2020 data set 001-2014 (= BCI Competition IV-2a) in its ``.mat`` format.

``A0{s}T.mat`` / ``A0{s}E.mat`` hold one variable ``data``: a 1 x R MATLAB cell of run structs with the fields
``X`` (samples x 25, µV: 22 EEG + 3 EOG), ``trial`` (1-based trial-start samples), ``y`` (labels 1-4), ``fs`` (250),
``classes``, ``artifacts`` (0/1 per trial), ``gender``, ``age``. The first runs of a session are EOG calibration runs
with an empty ``trial``. E files carry the true labels.

The files are found directly under the root, under ``s{n}/`` (the official code's layout), or inside a MOABB/MNE
download folder (``MNE-bnci-data/database/data-sets/001-2014/``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.io

from eegencoder.datasets.common import BNCI_SOURCE, EEG_CHANNELS, Session, extract_windows
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["find_session_file", "load_bnci_session"]

log = logging.getLogger(__name__)

_N_CHANNELS = 25  # 22 EEG + 3 EOG
_MOABB_SUBDIR = Path("MNE-bnci-data", "database", "data-sets", "001-2014")


def _candidate_dirs(root: Path, subject: int) -> list[Path]:
    dirs = [root, root / f"s{subject}", root / "001-2014", root / _MOABB_SUBDIR, root / "database/data-sets/001-2014"]
    dirs.append(Path.home() / "mne_data" / _MOABB_SUBDIR)  # MOABB's default download folder
    return dirs


def find_session_file(
    root: str | Path, subject: int, session: str, ext: str, dataset: str, source: str, extra: list[str] | None = None
) -> Path:
    """Path of ``A0{subject}{session}.{ext}`` under ``root`` (or a known sub-folder); a clear error if absent."""
    name = f"A0{subject}{session}.{ext}"
    root = Path(root).expanduser()
    for d in _candidate_dirs(root, subject):
        if (d / name).is_file():
            return d / name
    expected = {f"A0{subject}T.{ext}": None, f"A0{subject}E.{ext}": None, **dict.fromkeys(extra or [])}
    raise DataNotFoundError(
        dataset,
        root,
        missing=[name],
        expected=expected,
        source=source,
        hint=(
            f"The files may also sit in '{root}/s{subject}/' or in a MOABB download folder "
            f"('{root}/{_MOABB_SUBDIR}/', or ~/mne_data/{_MOABB_SUBDIR}/)."
        ),
    )


def _field(run: object, name: str, path: Path) -> np.ndarray:
    if not hasattr(run, name):
        fields = getattr(run, "_fieldnames", [])
        raise DataFormatError(
            path, f"a run struct has no field '{name}' (fields: {fields})", expected=_EXPECTED, source=BNCI_SOURCE
        )
    return np.asarray(getattr(run, name))


_EXPECTED = "a variable 'data': 1xR cell of structs with fields X (samples x 25), trial, y, fs, classes, artifacts"


def load_bnci_session(
    path: str | Path,
    subject: int,
    session: str,
    tmin: float = 1.5,
    tmax: float = 6.0,
    sfreq: float = 250.0,
    require_labels: bool = True,
) -> Session:
    """Trials of one BNCI ``.mat`` session: windows [tmin, tmax) s after trial start, 22 EEG channels, µV.

    ``require_labels=False`` (``predict``) accepts runs without ``y`` (a user's unlabeled recording): label -1."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as err:  # scipy raises several types for a corrupt file
        raise DataFormatError(
            path, f"not a readable MATLAB file ({err})", expected=_EXPECTED, source=BNCI_SOURCE
        ) from err
    if "data" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataFormatError(path, f"no variable 'data' (found {keys})", expected=_EXPECTED, source=BNCI_SOURCE)
    xs, ys, rej, rates = [], [], [], set()
    for run in np.atleast_1d(mat["data"]):
        trial = np.atleast_1d(_field(run, "trial", path)).astype(np.int64)
        if trial.size == 0:  # EOG calibration run
            continue
        x = np.asarray(_field(run, "X", path), dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != _N_CHANNELS:
            raise DataFormatError(
                path,
                f"a run has X of shape {x.shape}: {x.shape[1] if x.ndim == 2 else '?'} channels found",
                expected=f"samples x {_N_CHANNELS} (22 EEG {', '.join(EEG_CHANNELS)} + 3 EOG)",
                source=BNCI_SOURCE,
            )
        fs = float(_field(run, "fs", path))
        rates.add(fs)
        if not require_labels and (not hasattr(run, "y") or np.asarray(run.y).size == 0):
            y = np.zeros(trial.shape, dtype=np.int64)  # becomes -1 below: no label
        else:
            y = np.atleast_1d(_field(run, "y", path)).astype(np.int64)
        if y.shape != trial.shape:
            raise DataFormatError(path, f"{trial.size} trial starts but {y.size} labels in a run", source=BNCI_SOURCE)
        art = np.atleast_1d(getattr(run, "artifacts", np.zeros_like(y))).astype(bool)
        xs.append(extract_windows(x[:, :22].T, trial - 1, tmin, tmax, fs, sfreq, path))  # MATLAB 1-based -> 0-based
        ys.append(y - 1)
        rej.append(art if art.shape == y.shape else np.zeros_like(y, dtype=bool))
    if not xs:
        raise DataFormatError(path, "no run contains trials", expected=_EXPECTED, source=BNCI_SOURCE)
    y = np.concatenate(ys)
    if (require_labels or (y >= 0).any()) and (y.min() < 0 or y.max() > 3):
        raise DataFormatError(path, f"labels outside 1-4 (found {sorted(set((y + 1).tolist()))})", source=BNCI_SOURCE)
    fs = rates.pop() if len(rates) == 1 else None
    return Session(np.concatenate(xs), y, subject, session, sfreq, np.concatenate(rej), 0, EEG_CHANNELS, fs)
