"""Look-into-Object (LIO), Zhou et al., CVPR 2020: a classifier trained with two self-supervised heads (Sec. 3).

::

    image (B, 3, S, S)
      └─ backbone ──► stage maps {1: conv3, 2: conv4, 3: conv5}
                        │                     │
                        │ stage 3 (last map)  │ configured stage s, AvgPool2d(head_pool)  -> f (B, C, N, N)
                        ▼                     ▼
             GAP + Linear -> logits   ┌─ OEL mask head   m = Conv1x1_{C->1}(ReLU f)          (B, N, N)   Sec. 3.1
              (= the inference model) └─ SCL structure   h = ReLU(Conv1x1_{C->C/2}(ReLU f))   (B, C/2, N, N)
                                              coord predictor [h_o ; h_ij] -> Linear -> ReLU -> (d̂, θ̂)  Sec. 3.2

Training only: L = CE + alpha * L_oel + beta * L_scl (Eq. 10, alpha = beta = 0.1). Multi-stage LIO (the paper's
"LIO/ResNet-50 (multi-stage)" rows): ``extra_stages`` adds a separate set of heads at each further stage (e.g. 14x14 and
28x28 next to 7x7), each with its own OEL and SCL terms, all added to the loss with the same weights (our reading; the
paper's exact combination was not checked against the PDF). At inference the heads are dropped:
:meth:`LIO.export` returns the backbone + GAP + Linear alone (:class:`Classifier`), with no LIO parameter.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lio.backbones import build_backbone
from lio.losses import (
    choose_centre,
    group_indices,
    object_region,
    oel_loss,
    polar_targets,
    pseudo_masks,
    scl_loss,
)

__all__ = ["LIO", "Classifier", "LIOConfig", "LIOHeads"]


@dataclass
class LIOConfig:
    """Model and LIO-objective settings. Defaults = the paper's semantics on our tiny CPU backbone."""

    n_classes: int = 10
    backbone: str = "tiny_resnet"  # tiny_resnet | resnet50 | torchvision:<name> | timm:<name>
    pretrained: str | None = None  # null | imagenet | path of a weights file
    tiny_widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    tiny_strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2])
    tiny_blocks: int = 1
    tiny_stem_stride: int = 1
    stage: Literal[1, 2, 3] = 3  # 3: conv5 -> 7x7 at 448 px; 2: conv4 -> 14x14; 1: conv3 -> 28x28 (with head_pool 2)
    head_pool: int = 2  # AvgPool2d before the heads (the official code: 2)
    use_oel: bool = True
    use_scl: bool = True
    alpha: float = 0.1  # OEL weight (Eq. 10)
    beta: float = 0.1  # SCL weight (Eq. 10)
    oel_grouping: Literal["paper", "official"] = "paper"
    detach_pseudo_mask: bool = True  # official code: False (gradients flow into both feature maps)
    scl_centre: Literal["oel", "structure"] = "oel"  # Eq. 6; official code: "structure"
    scl_distance_norm: Literal["sqrt2N", "N"] = "sqrt2N"  # paper d in [0, 1]; official code: / N
    scl_reduction: Literal["paper", "official"] = "paper"
    extra_stages: list[int] = field(default_factory=list)  # multi-stage LIO: more stages, each with its own heads

    def __post_init__(self) -> None:
        if self.stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {self.stage}")
        extra = list(self.extra_stages)
        if any(s not in (1, 2, 3) for s in extra) or self.stage in extra or len(set(extra)) != len(extra):
            raise ValueError(f"extra_stages must be distinct stages in 1-3 other than stage {self.stage}, got {extra}")
        if self.head_pool < 1:
            raise ValueError("head_pool must be >= 1")
        if self.n_classes < 2:
            raise ValueError("n_classes must be >= 2")


class Classifier(nn.Module):
    """The inference model: backbone -> GAP -> Linear on the last stage map (identical at train and test)."""

    def __init__(self, backbone: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.channels[3], n_classes)

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        return self.backbone(x)  # {stage: (B, C_s, H_s, W_s)}

    def head(self, last: torch.Tensor) -> torch.Tensor:
        return self.fc(last.mean(dim=(-2, -1)))  # GAP (B, C) -> (B, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[3])  # (B, K)


class LIOHeads(nn.Module):
    """The training-only heads on stage features f (B, C, N, N): OEL mask head, SCL structure head and predictor."""

    def __init__(self, channels: int, head_pool: int = 2) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(head_pool) if head_pool > 1 else nn.Identity()
        self.mask = nn.Conv2d(channels, 1, 1)  # m(I): no sigmoid, no BN (Sec. 3.1)
        self.structure = nn.Conv2d(channels, channels // 2, 1)  # h(I) (Sec. 3.2)
        self.coord = nn.Linear(2 * (channels // 2), 2)  # [h_o ; h_ij] -> (d̂, θ̂)
        # the targets lie in [0, 1] and the predictor ends in a ReLU: a bias of 1/2 keeps it from starting dead
        nn.init.constant_(self.coord.bias, 0.5)

    def stage_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pool(x))  # f (B, C, N, N), post-ReLU (ResNet maps already are)

    def mask_logits(self, f: torch.Tensor) -> torch.Tensor:
        return self.mask(f).squeeze(1)  # (B, N, N)

    def structure_map(self, f: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.structure(f))  # (B, C/2, N, N)

    def polar(self, h: torch.Tensor, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(d̂, θ̂) (B, N, N) of every cell relative to ``centre`` (B, 2); the centre's own prediction is 0."""
        b, c, nh, nw = h.shape
        flat = h.flatten(2)  # (B, C/2, NN)
        ci = centre[:, 0] * nw + centre[:, 1]  # (B,)
        h_o = flat.gather(2, ci[:, None, None].expand(b, c, 1)).expand(b, c, nh * nw)  # (B, C/2, NN)
        pred = torch.relu(self.coord(torch.cat([h_o, flat], dim=1).transpose(1, 2)))  # (B, NN, 2)
        keep = torch.ones(b, nh * nw, 1, device=h.device, dtype=pred.dtype)
        keep[torch.arange(b, device=h.device), ci] = 0.0
        pred = (pred * keep).view(b, nh, nw, 2)
        return pred[..., 0], pred[..., 1]


class LIO(nn.Module):
    """Classifier + LIO heads. :meth:`objective` computes CE + alpha*OEL + beta*SCL on a grouped batch."""

    def __init__(self, cfg: LIOConfig) -> None:
        super().__init__()
        self.cfg = cfg
        backbone = build_backbone(
            cfg.backbone, cfg.pretrained, cfg.tiny_widths, cfg.tiny_strides, cfg.tiny_blocks, cfg.tiny_stem_stride
        )
        self.net = Classifier(backbone, cfg.n_classes)
        on = cfg.use_oel or cfg.use_scl
        self.heads = LIOHeads(backbone.channels[cfg.stage], cfg.head_pool) if on else None
        self.extra_heads = (
            nn.ModuleDict({str(s): LIOHeads(backbone.channels[s], cfg.head_pool) for s in cfg.extra_stages})
            if on and cfg.extra_stages
            else None
        )

    @property
    def head_stages(self) -> list[int]:
        """The stages that carry LIO heads: ``stage`` first (the diagnostics read it), then ``extra_stages``."""
        return [self.cfg.stage, *self.cfg.extra_stages] if self.heads is not None else []

    def heads_at(self, stage: int) -> LIOHeads:
        assert self.heads is not None
        return self.heads if stage == self.cfg.stage else self.extra_heads[str(stage)]

    def head_parameters(self) -> list[nn.Parameter]:
        """Every training-only parameter (the heads at every head stage)."""
        return [p for s in self.head_stages for p in self.heads_at(s).parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, K) logits: the plain backbone

    def export(self) -> Classifier:
        """A copy of the inference model (backbone + GAP + Linear): no LIO parameter."""
        return copy.deepcopy(self.net).eval()

    def head_outputs(self, maps: dict[int, torch.Tensor], stage: int | None = None) -> dict[str, torch.Tensor]:
        """f, m (and h) from the backbone's stage maps, by the heads at ``stage`` (default: the primary ``stage``)."""
        stage = self.cfg.stage if stage is None else stage
        heads = self.heads_at(stage)
        f = heads.stage_features(maps[stage])  # (B, C, N, N)
        out = {"f": f, "m": heads.mask_logits(f)}  # m (B, N, N)
        if self.cfg.use_scl:
            out["h"] = heads.structure_map(f)  # (B, C/2, N, N)
        return out

    def centre_and_region(self, m: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(o (B, 2), b (B, N, N)). Without OEL (the SCL-only ablation) the region is every cell and the centre the
        maximal structure response: the mask head is then untrained and carries no information."""
        if not self.cfg.use_oel:
            region = torch.ones_like(m, dtype=torch.bool)
            return choose_centre(m, h, region, "structure"), region
        region = object_region(m.detach())
        return choose_centre(m.detach(), h.detach() if h is not None else h, region, self.cfg.scl_centre), region

    def objective(
        self, x: torch.Tensor, y: torch.Tensor, group_size: int, weight: float = 1.0
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms and logits on a batch laid out as groups of ``group_size`` = 1 + K same-class images
        [a0, a0p1..a0pK, a1, ...] (``group_size`` 1: plain batches, CE only).

        Every image gets CE (the official code trains on anchors and positives alike); every image of a group is in
        turn the anchor whose pseudo-mask comes from the other K (so the positives get OEL targets too). With
        ``extra_stages`` the heads of every further stage s add their terms ``oel_s{s}``, ``scl_s{s}`` likewise.

        ``weight`` in [0, 1] scales the gradient that the OEL/SCL losses send into the backbone (the warm-up of
        random-init backbones: 0 = the backbone is trained by CE alone while the heads already learn on its features;
        1 = the paper's objective). The loss values are unchanged by it.
        """
        cfg = self.cfg
        maps = self.net.features(x)
        logits = self.net.head(maps[3])  # (B, K)
        terms = {"ce": F.cross_entropy(logits, y)}
        loss = terms["ce"]
        if self.heads is None:
            terms["loss"] = loss
            return terms, logits
        if weight != 1.0:  # value kept, gradient into the backbone scaled
            maps = {**maps, **{s: maps[s].detach() + weight * (maps[s] - maps[s].detach()) for s in self.head_stages}}
        groups = None
        if cfg.use_oel:
            if group_size < 2 or x.shape[0] % group_size:
                raise ValueError(f"OEL needs groups of 1 + K >= 2 same-class images; got a batch of {x.shape[0]}")
            groups = group_indices(x.shape[0] // group_size, group_size, cfg.oel_grouping, x.device)
        for s in self.head_stages:
            tag = "" if s == cfg.stage else f"_s{s}"
            out = self.head_outputs(maps, s)
            f, m = out["f"], out["m"]
            if cfg.use_oel:
                target = pseudo_masks(f.detach() if cfg.detach_pseudo_mask else f, groups)  # M' (B, N, N), Eq. 3
                terms["oel" + tag] = oel_loss(m, target)
                loss = loss + cfg.alpha * terms["oel" + tag]
            if cfg.use_scl:
                h = out["h"]
                centre, region = self.centre_and_region(m, h)
                d, theta = polar_targets(centre, tuple(m.shape[-2:]), cfg.scl_distance_norm)
                d_hat, theta_hat = self.heads_at(s).polar(h, centre)
                terms["scl" + tag] = scl_loss(d_hat, theta_hat, d, theta, region, cfg.scl_reduction)
                loss = loss + cfg.beta * terms["scl" + tag]
        terms["loss"] = loss
        return terms, logits
