"""Shared by the workspace contract tests: the list of projects and one cached tiny fit per project."""

from __future__ import annotations

import dataclasses
import importlib
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import move_data_to_device

from paperkit.runs import latest_run
from paperkit.testing import tiny_trainer_args

__all__ = [
    "LIGHTNING_PROJECTS",
    "PLAIN_PROJECTS",
    "PROJECTS",
    "ROOT",
    "Trained",
    "is_lightning",
    "pyproject",
    "trained",
]

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = sorted(p.name for p in (ROOT / "projects").iterdir() if (p / "pyproject.toml").is_file())


def pyproject(slug: str) -> dict:
    return tomllib.loads((ROOT / "projects" / slug / "pyproject.toml").read_text())


def is_lightning(slug: str) -> bool:
    return bool(pyproject(slug).get("tool", {}).get("paperkit", {}).get("lightning", True))


LIGHTNING_PROJECTS = [s for s in PROJECTS if is_lightning(s)]
PLAIN_PROJECTS = [s for s in PROJECTS if not is_lightning(s)]


@dataclasses.dataclass
class Trained:
    cli: Any
    module: pl.LightningModule
    datamodule: pl.LightningDataModule
    ckpt: Path
    train_batch: Any
    eval_batch: Any


_CACHE: dict[str, Trained] = {}


def _first(loader: Any) -> Any:
    batch = next(iter(loader))
    return move_data_to_device(batch, torch.device("cpu"))


def trained(slug: str, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One tiny fit of ``slug`` (cached for the session)."""
    if slug not in _CACHE:
        folder = tmp_path_factory.mktemp(f"contract_{slug}")
        main = importlib.import_module(f"{slug}.cli").main
        old = Path.cwd()
        os.chdir(folder)
        try:
            cli = main(["fit", *tiny_trainer_args()])
        finally:
            os.chdir(old)
        run = latest_run(folder / "runs", slug)
        ckpt = run / "checkpoints" / "last.ckpt"
        assert ckpt.is_file(), f"{slug}: a tiny fit wrote no last.ckpt in {run}"
        dm = cli.datamodule
        _CACHE[slug] = Trained(cli, cli.model, dm, ckpt, _first(dm.train_dataloader()), _first(dm.val_dataloader()))
    return _CACHE[slug]
