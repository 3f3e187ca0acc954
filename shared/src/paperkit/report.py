"""Metric tables and figures shared by the projects: console/markdown tables, JSON dumps, a confusion matrix."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "aggregate_seeds",
    "markdown_table",
    "print_metrics",
    "save_confusion_matrix",
    "save_json",
    "save_line_plot",
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


def save_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[float]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix",
    normalize: bool = True,
) -> Path:
    """Save a confusion matrix (rows = true class, columns = predicted) as a PNG with counts or row fractions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    shown = m / np.clip(m.sum(axis=1, keepdims=True), 1, None) if normalize else m
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(class_names), 1.0 + 0.8 * len(class_names)))
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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_line_plot(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> Path:
    """Save one or more curves sharing an x axis (e.g. accuracy vs. attack radius) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, ys in curves.items():
        ax.plot(list(x), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
