"""The detector head (paper Sec. 3, "Detector"): a 3-layer MLP on concatenated frozen CLIP image and text features.

::

    image feature (B, Di) ─┐
                           ├─ concat ─> (B, Di + Dt) ─> 3 x [Linear ─ BatchNorm1d ─ ReLU ─ Dropout]
    text feature  (B, Dt) ─┘                                  ─> Linear ─> logit (B,)

The CLIP encoders are frozen and run once per dataset (:mod:`dmdetect.encoders`); this MLP is the only trained part.
At paper size (ViT-L/14: Di = Dt = 768, width 1536) it has about 7.1 M parameters. ``inputs`` selects the fused
feature (the paper), the image feature alone or the text feature alone (baselines). The official code uses
LeakyReLU(0.01) where the paper text says ReLU: ``activation="leaky_relu"`` reproduces the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["Detector", "DetectorConfig", "Inputs"]

Inputs = Literal["fused", "image", "text"]


@dataclass
class DetectorConfig:
    image_dim: int = 768
    text_dim: int = 768
    hidden: int = 1536
    n_layers: int = 3
    dropout: float = 0.335  # official DFAD_model_base.py
    activation: Literal["relu", "leaky_relu"] = "relu"
    inputs: Inputs = "fused"

    def __post_init__(self) -> None:
        if self.image_dim < 1 or self.text_dim < 1 or self.hidden < 1 or self.n_layers < 1:
            raise ValueError(f"dimensions and n_layers must be positive: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.inputs not in ("fused", "image", "text"):
            raise ValueError(f"inputs must be fused, image or text, got {self.inputs!r}")

    @property
    def in_dim(self) -> int:
        return {"fused": self.image_dim + self.text_dim, "image": self.image_dim, "text": self.text_dim}[self.inputs]


class Detector(nn.Module):
    """MLP detector: ``forward(image (B, Di), text (B, Dt)) -> logit (B,)``; ``y = 1`` means generated."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.in_dim
        for _ in range(cfg.n_layers):
            act = nn.ReLU() if cfg.activation == "relu" else nn.LeakyReLU(0.01)
            layers += [nn.Linear(width, cfg.hidden), nn.BatchNorm1d(cfg.hidden), act, nn.Dropout(cfg.dropout)]
            width = cfg.hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        for m in self.modules():  # official init: Kaiming-uniform (fan_in, relu) on every Linear, default biases
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")

    def features(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        if self.cfg.inputs == "image":
            return image  # (B, Di)
        if self.cfg.inputs == "text":
            return text  # (B, Dt)
        return torch.cat([image, text], dim=-1)  # (B, Di + Dt)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = self.body(self.features(image, text))  # (B, hidden)
        return self.head(h).squeeze(-1)  # (B,)
