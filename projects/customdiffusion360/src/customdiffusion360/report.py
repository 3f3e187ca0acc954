"""Outputs a person looks at: sample grids over azimuth, PNG files, and the face-colour pose proxy (Section 6 of
the embedded setting: the dominant face colour of a sample inside the object mask against the ground truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from customdiffusion360.datasets.synthetic import FACE_COLORS
from paperkit.report import new_figure, save_figure

__all__ = ["face_accuracy", "save_png", "save_sample_grid"]


def save_png(image01: torch.Tensor, path: str | Path) -> Path:
    """(3, H, W) in [0, 1] -> PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (image01.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(arr).save(path)
    return path


def save_sample_grid(truth: torch.Tensor, samples: torch.Tensor, azimuths: torch.Tensor, path: str | Path) -> Path:
    """Two rows (held-out ground truth in [-1, 1], samples in [0, 1]) over azimuth."""
    n = truth.shape[0]
    fig = new_figure(1.3 * n + 0.6, 3.0)
    for i in range(n):
        for row, img in enumerate(((truth[i] + 1) / 2, samples[i])):
            ax = fig.add_subplot(2, n, row * n + i + 1)
            ax.imshow(np.asarray(img.clamp(0, 1).permute(1, 2, 0)))
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{float(azimuths[i]):.0f}°", fontsize=8)
            if i == 0:
                ax.set_ylabel("held-out" if row == 0 else "sample", fontsize=8)
    return save_figure(fig, path)


def _nearest_face(img01: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H, W) index of the nearest of the six face colours."""
    d = (img01.unsqueeze(1) - FACE_COLORS.view(1, 6, 3, 1, 1)).pow(2).sum(2)  # (B, 6, H, W)
    return d.argmin(1)


def face_accuracy(samples01: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor) -> tuple[float, float]:
    """(per-pixel agreement of the nearest face colour inside the mask, fraction of views whose dominant face
    colour matches). ``truth`` in [-1, 1], ``samples01`` in [0, 1]; chance is about 1/6 for both."""
    f_s, f_t = _nearest_face(samples01), _nearest_face((truth + 1) / 2)
    m = masks[:, 0] > 0.5
    pixel = float((f_s == f_t)[m].float().mean()) if m.any() else float("nan")
    dom = []
    for i in range(len(m)):
        if m[i].any():
            dom.append(
                float(
                    torch.bincount(f_s[i][m[i]], minlength=6).argmax()
                    == torch.bincount(f_t[i][m[i]], minlength=6).argmax()
                )
            )
    return pixel, float(np.mean(dom)) if dom else float("nan")
