"""Metric tables, figures and prediction files shared by the projects.

Tables: :func:`markdown_table`, :func:`print_metrics`, :func:`save_table` (CSV + markdown), :func:`gather_rows`
(DDP-safe collection of per-sample or per-group rows). Figures are drawn on :class:`matplotlib.figure.Figure` objects
(:func:`new_figure`, :func:`save_figure`), never through pyplot's global state or a global backend switch.
:class:`PredictionWriter` writes ``predict`` outputs to a CSV in the run folder.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

from paperkit.runs import run_dir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PredictionWriter",
    "aggregate_seeds",
    "gather_rows",
    "markdown_table",
    "new_figure",
    "print_metrics",
    "read_metrics_csv",
    "save_confusion_matrix",
    "save_figure",
    "save_json",
    "save_learning_curve",
    "save_line_plot",
    "save_table",
]

log = logging.getLogger(__name__)


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 4) -> str:
    """A GitHub markdown table from a list of dicts (columns default to the union of keys, in first-seen order)."""
    if not rows:
        return ""
    if columns is None:
        columns = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(c, ""), digits) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def print_metrics(metrics: Mapping[str, float], title: str = "Test metrics") -> str:
    """Print metrics as a two-column table (rich when available) and return the plain-text version."""
    rows = [{"metric": k, "value": float(v)} for k, v in sorted(metrics.items())]
    text = markdown_table(rows, ["metric", "value"])
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for r in rows:
            table.add_row(r["metric"], _fmt(r["value"]))
        Console().print(table)
    except ImportError:  # pragma: no cover - rich is a dependency, but stay usable without it
        print(f"{title}\n{text}")
    return text


def save_json(obj: Any, path: str | Path) -> Path:
    """Write JSON with sorted keys; numpy/torch scalars become floats."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):  # numpy / torch, scalars and arrays
            return o.tolist()
        if hasattr(o, "item"):
            return o.item()
        raise TypeError(f"not JSON serialisable: {type(o)}")

    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n")
    return path


def aggregate_seeds(runs: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (sample) standard deviation of each metric over seeds: {metric: {mean, std, n}}."""
    keys: list[str] = []
    for r in runs:
        keys.extend(k for k in r if k not in keys)
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        vals = np.array([float(r[k]) for r in runs if k in r], dtype=float)
        out[k] = {
            "mean": float(vals.mean()),
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "n": len(vals),
        }
    return out


def new_figure(width: float = 5.0, height: float = 3.5) -> Figure:
    """A matplotlib ``Figure`` not registered with pyplot (no global state, no backend switch, thread-safe)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Lay out and save ``fig`` as a PNG (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def save_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[float]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix",
    normalize: bool = True,
) -> Path:
    """Save a confusion matrix (rows = true class, columns = predicted) as a PNG with counts or row fractions."""
    m = np.asarray(matrix, dtype=float)
    shown = m / np.clip(m.sum(axis=1, keepdims=True), 1, None) if normalize else m
    fig = new_figure(1.2 + 0.9 * len(class_names), 1.0 + 0.8 * len(class_names))
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            txt = f"{shown[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
            ax.text(j, i, txt, ha="center", va="center", color="white" if shown[i, j] > 0.5 * shown.max() else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def save_line_plot(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> Path:
    """Save one or more curves sharing an x axis (e.g. accuracy vs. attack radius) as a PNG."""
    fig = new_figure()
    ax = fig.add_subplot()
    for name, ys in curves.items():
        ax.plot(list(x), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


# --- tables ---------------------------------------------------------------------------------------------------------
def save_table(rows: Sequence[Mapping[str, Any]], folder: str | Path, name: str, digits: int = 4) -> tuple[Path, Path]:
    """Write ``rows`` as ``<folder>/<name>.csv`` and ``<folder>/<name>.md`` (columns: union of keys, in order)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    csv_path, md_path = folder / f"{name}.csv", folder / f"{name}.md"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    md_path.write_text(markdown_table(rows, columns, digits) + "\n")
    return csv_path, md_path


def gather_rows(trainer: pl.Trainer | None, rows: Sequence[Any]) -> list[Any]:
    """All ranks' ``rows`` (picklable objects) concatenated in rank order; a no-op without distributed training.

    A collective: every rank must call it. Every rank receives the full list.
    """
    rows = list(rows)
    if trainer is None or trainer.world_size <= 1 or not torch.distributed.is_initialized():
        return rows
    parts: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(parts, rows)
    return [r for part in parts for r in part]


# --- learning curves ------------------------------------------------------------------------------------------------
def read_metrics_csv(path: str | Path) -> dict[str, dict[int, float]]:
    """A CSVLogger ``metrics.csv`` as ``{column: {epoch: last value logged in that epoch}}``."""
    out: dict[str, dict[int, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            epoch = row.get("epoch")
            if epoch in (None, ""):
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or value in (None, ""):
                    continue
                out.setdefault(key, {})[int(float(epoch))] = float(value)
    return out


def _series(metrics: Mapping[str, Mapping[int, float]], *names: str) -> tuple[str, Mapping[int, float]] | None:
    for n in names:
        if metrics.get(n):
            return n, metrics[n]
    return None


def save_learning_curve(metrics_csv: str | Path, path: str | Path, monitor: str | None = None) -> Path | None:
    """Training loss, validation loss and the monitored metric per epoch (from ``metrics.csv``) as one PNG.

    Returns None (and writes nothing) when the file holds no per-epoch values.
    """
    metrics = read_metrics_csv(metrics_csv)
    train = _series(metrics, "train/loss_epoch", "train/loss")
    val = _series(metrics, "val/loss_epoch", "val/loss")
    mon = _series(metrics, monitor) if monitor and monitor not in {"val/loss", "train/loss"} else None
    if train is None and val is None and mon is None:
        return None
    fig = new_figure(6, 3.8)
    ax = fig.add_subplot()
    for label, series in (("train loss", train), ("val loss", val)):
        if series is not None:
            xs = sorted(series[1])
            ax.plot(xs, [series[1][x] for x in xs], marker=".", label=label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if mon is not None:
        ax2 = ax.twinx()
        xs = sorted(mon[1])
        ax2.plot(xs, [mon[1][x] for x in xs], marker=".", color="tab:green", label=mon[0])
        ax2.set_ylabel(mon[0])
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="best")
    ax.set_title("learning curve")
    return save_figure(fig, path)


# --- predictions ----------------------------------------------------------------------------------------------------
class PredictionWriter(BasePredictionWriter):
    """Write ``predict`` outputs to ``<run folder>/<filename>`` as CSV.

    ``predict_step`` returns a list of row dicts, one per sample (values: str / int / float). Rows are gathered from
    every DDP rank; a repeated ``id`` (DistributedSampler pads the last batch with repeats) is written once.
    """

    def __init__(self, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        self.filename = filename
        self.path: Path | None = None

    def write_on_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        batches = list(predictions)
        if batches and isinstance(batches[0], list) and batches[0] and isinstance(batches[0][0], list):
            batches = [b for loader in batches for b in loader]  # several predict dataloaders
        rows = [row for batch in batches for row in (batch or [])]
        rows = gather_rows(trainer, rows)
        folder = run_dir(trainer)  # collective: every rank
        if not trainer.is_global_zero:
            return
        seen: set[Any] = set()
        unique = []
        for row in rows:
            key = row.get("id") if isinstance(row, Mapping) else None
            if key is not None and key in seen:
                continue
            seen.add(key)
            unique.append(row)
        columns: list[str] = []
        for r in unique:
            columns.extend(k for k in r if k not in columns)
        self.path = folder / self.filename
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(unique)
        log.info("Predictions for %d samples written to %s", len(unique), self.path)
