"""CustomDiffusion360: a frozen text-to-image UNet with FeatureNeRF pose blocks (paper Sections 3.1-3.3).

    reference views (B, N) ──frozen UNet (no grad, own t and text), capture mode──> xr at every pose block
    noisy target x_t ──frozen UNet, render mode──────────────────────────────────────────> ε̂
                            │ inside each configured BasicTransformerBlock (PoseBlock):
                            │   x = x + attn1(LN x);  x = x + attn2(LN x, text)
                            │   F, O, RGB = FeatureNeRF(target camera, reference cameras, xr)   (nerf.py)
                            │   x = W [x; F]          W ∈ R^{d x 2d}, no bias, initialised [I | 0]
                            │   x = x + ff(LN x)

The pose blocks are inserted with diffusers' module API: each chosen ``BasicTransformerBlock`` inside a
``Transformer2DModel`` is replaced by a :class:`PoseBlock` that wraps it (its frozen norm/attention/feed-forward
modules and their attention processors are called unchanged) and adds the trainable ``pose_*`` modules. With the
decoder and the fusion at their identity initialisation the output equals the base UNet's exactly.

Which blocks: the Transformer2DModels are numbered in forward order (encoder, mid, decoder; SDXL: 0-10) and
``pose_transformers`` lists the chosen ones; inside each, the blocks with index ``d % pose_every == 0`` (SDXL with
``[0, 2, 4, 6, 8, 10]`` and every 4: 12 blocks on the 32² and 16² maps).

Only the pose modules and the V* token rows train (``trainkeys="pose"``); ``poseattn`` also trains attn1/attn2 of
the pose blocks (at ``attn_lr_scale`` of the learning rate), ``all`` every UNet parameter.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from customdiffusion360.base import Base, TextCondition
from customdiffusion360.nerf import Cameras, FeatureNeRF, NeRFOutput

__all__ = ["CustomDiffusion360", "PoseBlock", "PoseConfig", "PoseContext", "load_delta", "save_delta"]

log = logging.getLogger(__name__)


@dataclass
class PoseConfig:
    """Where the pose blocks go and how FeatureNeRF renders (defaults: the paper's SDXL setting)."""

    pose_transformers: tuple[int, ...] = (0, 2, 4, 6, 8, 10)
    pose_every: int = 4
    n_samples: int = 24
    near: float = 0.0
    far: float = 2.0
    pe_points: int = 16
    pe_points_min_exp: int = -8
    pe_rays: int = 8
    pe_rays_min_exp: int = -4
    aggregation: Literal["softmax", "average"] = "softmax"
    text3d: bool = True
    importance_prob: float = 0.9  # training; always at evaluation (when a previous pose block exists)
    clip_grid: float = 1.2
    trainkeys: Literal["pose", "poseattn", "all"] = "pose"
    use_pose: bool = True  # False: the token-only ablation (no FeatureNeRF; the pose blocks pass through, frozen)

    def __post_init__(self) -> None:
        if not all(isinstance(i, int) for i in self.pose_transformers):
            raise ValueError(f"pose_transformers must be integers, got {self.pose_transformers}")
        if not self.pose_transformers:
            raise ValueError("pose_transformers is empty: at least one transformer must get a pose block")
        if self.pose_every < 1 or self.n_samples < 2:
            raise ValueError("pose_every must be >= 1 and n_samples >= 2")
        if not 0.0 <= self.near < self.far:
            raise ValueError(f"need 0 <= near < far, got near={self.near}, far={self.far}")
        if not 0.0 <= self.importance_prob <= 1.0:
            raise ValueError("importance_prob must be in [0, 1]")


class PoseContext:
    """Per-forward state shared by the pose blocks of one model (set by :meth:`CustomDiffusion360.mode`)."""

    def __init__(self) -> None:
        self.mode: Literal["off", "capture", "render"] = "off"
        self.captured: dict[str, torch.Tensor] = {}
        self.ref_features: dict[str, torch.Tensor] = {}
        self.target: Cameras | None = None
        self.refs: Cameras | None = None
        self.outputs: dict[str, NeRFOutput] = {}
        self.prev: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.importance = False
        self.generator: torch.Generator | None = None
        self.reuse: dict[str, torch.Tensor] | None = None  # rendered F per block, reused over sampling steps


class PoseBlock(nn.Module):
    """A ``BasicTransformerBlock`` (layer-norm type) with FeatureNeRF fusion between cross-attention and FF."""

    def __init__(self, block: nn.Module, name: str, parent: str, ctx: PoseContext, cfg: PoseConfig) -> None:
        super().__init__()
        if getattr(block, "norm_type", None) != "layer_norm" or block.pos_embed is not None or block.attn2 is None:
            raise ValueError(f"{name}: pose blocks need a layer-norm BasicTransformerBlock with cross-attention")
        self.block, self.name, self.parent = block, name, parent
        self._ctx = [ctx]  # a list: not a submodule, not in the state dict
        dim = block.norm1.normalized_shape[0]
        self.pose_nerf = FeatureNeRF(
            dim,
            cfg.n_samples,
            cfg.near,
            cfg.far,
            cfg.pe_points,
            cfg.pe_points_min_exp,
            cfg.pe_rays,
            cfg.pe_rays_min_exp,
            cfg.aggregation,
            cfg.clip_grid,
        )
        self.pose_fusion = nn.Linear(2 * dim, dim, bias=False)  # W = [I | 0]
        with torch.no_grad():
            self.pose_fusion.weight.zero_()
            self.pose_fusion.weight[:, :dim].copy_(torch.eye(dim))
        self.text3d = cfg.text3d

    @property
    def ctx(self) -> PoseContext:
        return self._ctx[0]

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        timestep: torch.Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        class_labels: torch.Tensor | None = None,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        blk, ctx = self.block, self.ctx
        kw = dict(cross_attention_kwargs or {})
        x = hidden_states  # (B, HW, d)
        x = (
            blk.attn1(
                blk.norm1(x),
                encoder_hidden_states=encoder_hidden_states if blk.only_cross_attention else None,
                attention_mask=attention_mask,
                **kw,
            )
            + x
        )  # fmt: skip  (B, HW, d)
        x = (
            blk.attn2(
                blk.norm2(x), encoder_hidden_states=encoder_hidden_states, attention_mask=encoder_attention_mask, **kw
            )
            + x
        )  # fmt: skip  (B, HW, d)
        if ctx.mode == "capture":
            ctx.captured[self.name] = x.detach()  # reference-stream features xr (B*N, HW, d)
        elif ctx.mode == "render":
            x = self.pose_fusion(torch.cat([x, self._render(x, encoder_hidden_states, kw)], -1))  # (B, HW, d)
        return blk.ff(blk.norm3(x)) + x  # (B, HW, d)

    def _render(self, x: torch.Tensor, text: torch.Tensor | None, kw: dict) -> torch.Tensor:
        ctx = self.ctx
        if ctx.reuse is not None and self.name in ctx.reuse:
            return ctx.reuse[self.name]  # rendered features do not depend on x_t or t
        _b, hw, _d = x.shape
        s = round(hw**0.5)
        if s * s != hw:
            raise ValueError(f"{self.name}: pose blocks need square feature maps, got {hw} tokens")
        blk = self.block

        def text_condition(f: torch.Tensor) -> torch.Tensor:  # 3D text conditioning with the frozen attn2
            return f + blk.attn2(blk.norm2(f), encoder_hidden_states=text, **kw)

        out = self.pose_nerf(
            ctx.target,
            ctx.refs,
            ctx.ref_features[self.name],
            (s, s),
            text_condition=text_condition if self.text3d else None,
            prev_weights=ctx.prev.get(self.parent),
            importance=ctx.importance,
            generator=ctx.generator,
        )
        ctx.prev[self.parent] = (out.depths.detach(), out.weights.detach())
        ctx.outputs[self.name] = out
        if ctx.reuse is not None:
            ctx.reuse[self.name] = out.features
        return out.features  # (B, HW, d)


def _transformers_in_order(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """The UNet's Transformer2DModels in forward order: encoder, mid, decoder."""
    found = [(n, m) for n, m in unet.named_modules() if type(m).__name__ == "Transformer2DModel"]
    rank = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}

    def key(item: tuple[str, nn.Module]) -> tuple[int, int, int]:
        parts = item[0].split(".")
        level = int(parts[1]) if parts[0] != "mid_block" else 0
        return rank[parts[0]], level, int(parts[-1])

    return sorted(found, key=key)


class CustomDiffusion360(nn.Module):
    """The base (frozen) with pose blocks inserted; the V* token rows are in ``base.token_embeddings``."""

    def __init__(self, base: Base, cfg: PoseConfig) -> None:
        super().__init__()
        self.base, self.cfg = base, cfg
        self.ctx = PoseContext()
        transformers = _transformers_in_order(base.unet)
        bad = [i for i in cfg.pose_transformers if not 0 <= i < len(transformers)]
        if bad:
            raise ValueError(f"pose_transformers {bad}: the UNet has transformers 0..{len(transformers) - 1}")
        self.pose_blocks: list[PoseBlock] = []
        for i in cfg.pose_transformers:
            tname, tmod = transformers[i]
            for d, blk in enumerate(list(tmod.transformer_blocks)):
                if d % cfg.pose_every:
                    continue
                pb = PoseBlock(blk, f"{tname}.transformer_blocks.{d}", tname, self.ctx, cfg)
                tmod.transformer_blocks[d] = pb  # diffusers module API: the block list is an nn.ModuleList
                self.pose_blocks.append(pb)
        self.set_trainable(cfg.trainkeys)

    # --- trainable parameters -----------------------------------------------------------------------------------
    def set_trainable(self, trainkeys: str) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        for pb in self.pose_blocks:
            for n, p in pb.named_parameters():
                if n.startswith("pose_") or (
                    trainkeys == "poseattn" and n.startswith(("block.attn1.", "block.attn2."))
                ):
                    p.requires_grad_(True)
        if trainkeys == "all":
            for p in self.base.unet.parameters():
                p.requires_grad_(True)
        for emb in self.base.token_embeddings:
            emb.new_token_rows.requires_grad_(True)

    def delta_state_dict(self) -> dict[str, torch.Tensor]:
        """What was trained: every pose_* tensor and the V* token rows (plus attn weights for ``poseattn``)."""
        out = {}
        for n, p in self.named_parameters():
            if p.requires_grad:
                out[n] = p.detach().cpu().contiguous()
        return out

    # --- the two streams ------------------------------------------------------------------------------------------
    @contextmanager
    def mode(self, mode: Literal["off", "capture", "render"], **state: Any) -> Iterator[PoseContext]:
        ctx = self.ctx
        ctx.mode = mode
        ctx.captured, ctx.outputs, ctx.prev = {}, {}, {}
        for k, v in state.items():
            setattr(ctx, k, v)
        try:
            yield ctx
        finally:
            ctx.mode, ctx.target, ctx.refs, ctx.ref_features, ctx.reuse, ctx.generator = (
                "off",
                None,
                None,
                {},
                None,
                None,
            )

    def unet(self, x: torch.Tensor, t: torch.Tensor, text: TextCondition) -> torch.Tensor:
        out = self.base.unet(x, t, encoder_hidden_states=text.context, added_cond_kwargs=text.added)
        return out.sample

    @torch.no_grad()
    def reference_features(self, x_ref_t: torch.Tensor, t_ref: torch.Tensor, text: TextCondition) -> dict:
        """Reference stream: (M, C, H, W) noisy references through the frozen UNet -> {block: (M, d, h, w)}."""
        with self.mode("capture") as ctx:
            self.unet(x_ref_t, t_ref, text)
            feats = {}
            for pb in self.pose_blocks:
                xr = ctx.captured[pb.name]  # (M, hw, d)
                s = round(xr.shape[1] ** 0.5)
                feats[pb.name] = xr.transpose(1, 2).reshape(xr.shape[0], -1, s, s)
        return feats

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        text: TextCondition,
        target: Cameras,
        refs: Cameras,
        ref_features: dict[str, torch.Tensor],
        generator: torch.Generator | None = None,
        reuse: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, NeRFOutput]]:
        """Target stream: ε̂ (B, C, H, W) and the per-block renderings. ref_features: {block: (B, N, d, h, w)}."""
        if not self.cfg.use_pose:
            return self.base_forward(x_t, t, text), {}
        importance = (not self.training) or random.random() < self.cfg.importance_prob
        with self.mode(
            "render",
            target=target,
            refs=refs,
            ref_features=ref_features,
            importance=importance,
            generator=generator,
            reuse=reuse,
        ) as ctx:
            eps = self.unet(x_t, t, text)  # (B, C, H, W)
            outputs = dict(ctx.outputs)
        return eps, outputs

    def base_forward(self, x_t: torch.Tensor, t: torch.Tensor, text: TextCondition) -> torch.Tensor:
        """The frozen base alone (pose blocks pass through): the reference for the identity-at-init check."""
        with self.mode("off"):
            return self.unet(x_t, t, text)


# ---------------------------------------------------------------------------------------------------------------------
# The trained delta as one small safetensors file
# ---------------------------------------------------------------------------------------------------------------------
def save_delta(
    model: CustomDiffusion360,
    path: str | Path,
    metadata: dict[str, Any] | None = None,
    extra: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write the trained tensors (+ ``extra`` tensors such as reference views) and JSON metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = dict(model.delta_state_dict())
    tensors.update({f"extra.{k}": v.detach().cpu().contiguous() for k, v in (extra or {}).items()})
    meta = {
        "format": "customdiffusion360-delta-v1",
        "pose_config": json.dumps(asdict(model.cfg)),
        "new_tokens": json.dumps(list(model.base.new_tokens)),
        "base_kind": model.base.kind,
        **{k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()},
    }
    save_file(tensors, str(path), metadata=meta)
    return path


def load_delta(path: str | Path, base: Base | None = None, base_path: str | None = None) -> tuple:
    """Load a delta file onto a base (given, or loaded from ``base_path`` / the path recorded in the file).

    Returns (model, metadata, extra tensors).
    """
    from safetensors import safe_open

    from customdiffusion360.base import load_base

    path = Path(path)
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    if meta.get("format") != "customdiffusion360-delta-v1":
        raise ValueError(f"{path} is not a CustomDiffusion360 delta file")
    cfg = PoseConfig(**json.loads(meta["pose_config"]))
    if base is None:
        src = base_path or meta.get("base_path")
        if not src:
            raise ValueError(f"{path} records no base: pass base_path")
        base = load_base(src, meta["base_kind"], tuple(json.loads(meta["new_tokens"])))
    model = CustomDiffusion360(base, cfg)
    own = {k: v for k, v in tensors.items() if not k.startswith("extra.")}
    missing = set(model.delta_state_dict()) - set(own)
    if missing:
        raise ValueError(f"{path} lacks trained tensors {sorted(missing)[:5]}")
    model.load_state_dict(own, strict=False)
    extra = {k.removeprefix("extra."): v for k, v in tensors.items() if k.startswith("extra.")}
    return model, meta, extra
