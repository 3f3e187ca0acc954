"""Evaluation metrics (paper Sec. 4) from a confusion matrix (rows = true class, columns = predicted).

MMSD: accuracy, binary precision / recall / F1 of the sarcastic class (1) and macro-F1 (the official selection
metric); MVSA: accuracy and weighted F1. All are always computed; each dataset reports the relevant ones.
"""

from __future__ import annotations

import torch

__all__ = ["metrics_from_confusion"]


def metrics_from_confusion(cm: torch.Tensor, positive: int | None = 1) -> dict[str, float]:
    """acc, macro_f1, weighted_f1 and (when ``positive`` is given) precision / recall / f1 of that class."""
    cm = cm.double()
    tp = cm.diag()
    pred, true = cm.sum(0), cm.sum(1)
    precision = torch.where(pred > 0, tp / pred.clamp_min(1), torch.zeros_like(tp))
    recall = torch.where(true > 0, tp / true.clamp_min(1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-12), torch.zeros_like(tp))
    total = cm.sum().clamp_min(1)
    out = {
        "acc": float(tp.sum() / total),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * true).sum() / total),
    }
    if positive is not None:
        out.update(precision=float(precision[positive]), recall=float(recall[positive]), f1=float(f1[positive]))
    return out
