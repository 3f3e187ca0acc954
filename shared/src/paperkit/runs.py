"""Run folders: ``runs/<slug>/version_N/``, the one place that knows how they are named and found.

Lightning's CSVLogger creates ``version_N`` folders for ``fit``/``test``/``predict``; commands without a Trainer
(``padf solve``, downloads, iteration drivers) create theirs with :func:`new_run_dir`, so that every run of every
project lands in the same kind of folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl

__all__ = ["RUNS_DIR", "find_last_checkpoint", "latest_run", "new_run_dir", "run_dir", "versions"]

RUNS_DIR = "runs"
_PREFIX = "version_"


def run_dir(trainer: pl.Trainer) -> Path:
    """The run folder of a trainer (``runs/<slug>/version_N``), created if needed.

    Call it on every rank: ``trainer.log_dir`` broadcasts from rank 0, so calling it on rank 0 alone hangs under DDP.
    """
    path = Path(trainer.log_dir or trainer.default_root_dir)
    if trainer.is_global_zero:
        path.mkdir(parents=True, exist_ok=True)
    return path


def versions(save_dir: str | Path, name: str) -> list[tuple[int, Path]]:
    """Every ``<save_dir>/<name>/version_N`` folder as ``(N, path)``, in increasing N (other names are ignored)."""
    out = []
    for path in Path(save_dir, name).glob(f"{_PREFIX}*"):
        suffix = path.name.removeprefix(_PREFIX)
        if path.is_dir() and suffix.isdigit():
            out.append((int(suffix), path))
    return sorted(out)


def latest_run(save_dir: str | Path, name: str) -> Path:
    """The newest (highest N) ``<save_dir>/<name>/version_N``; FileNotFoundError if there is none."""
    found = versions(save_dir, name)
    if not found:
        raise FileNotFoundError(f"no run folder under {Path(save_dir, name)}")
    return found[-1][1]


def find_last_checkpoint(save_dir: str | Path, name: str) -> tuple[Path, int] | None:
    """The most recently written ``version_N/checkpoints/last*.ckpt`` under ``<save_dir>/<name>`` and its N, or None."""
    candidates = []
    for version, folder in versions(save_dir, name):
        for ckpt in (folder / "checkpoints").glob("last*.ckpt"):
            candidates.append((ckpt.stat().st_mtime, version, ckpt))
    if not candidates:
        return None
    _, version, ckpt = max(candidates)
    return ckpt, version


def new_run_dir(save_dir: str | Path, name: str) -> Path:
    """Create and return the next free ``<save_dir>/<name>/version_N`` (safe against a concurrent creator)."""
    root = Path(save_dir, name)
    root.mkdir(parents=True, exist_ok=True)
    n = versions(save_dir, name)[-1][0] + 1 if versions(save_dir, name) else 0
    while True:
        path = root / f"{_PREFIX}{n}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1
