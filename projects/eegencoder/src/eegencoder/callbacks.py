"""Prediction writer for ``eegencoder predict``: per-trial class probabilities to ``predictions.csv``."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

from paperkit.cli import run_dir

__all__ = ["ProbabilityWriter"]

log = logging.getLogger(__name__)


class ProbabilityWriter(BasePredictionWriter):
    """Write ``trial, label, predicted, p_<class>...`` rows (``label`` = -1 when the file has none) after predict."""

    def __init__(self, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        self.filename = filename

    def write_on_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        if not predictions:
            return
        preds = predictions[0] if predictions and isinstance(predictions[0], list) else predictions
        index = torch.cat([p["index"] for p in preds]).tolist()
        label = torch.cat([p["label"] for p in preds]).tolist()
        probs = torch.cat([p["probs"] for p in preds]).float().cpu()
        names = list(getattr(pl_module, "class_names", [f"class_{i}" for i in range(probs.shape[1])]))
        path = run_dir(trainer) / self.filename
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["trial", "label", "predicted", *[f"p_{n}" for n in names]])
            for i, lab, p in zip(index, label, probs.tolist()):
                writer.writerow([i, lab, names[int(torch.tensor(p).argmax())], *[f"{v:.6f}" for v in p]])
        log.info("Predictions for %d trials written to %s", len(index), path)
