"""EEGEncoder in pure PyTorch (arXiv 2404.14869, Section "Methods": down-sampling projector, DSTS block, fusion).

One readable file in the nanoGPT style: a config dataclass and the modules, top to bottom.

    x (B, C, T) ──ConvProjector──> tokens (B, L, d)
        ├─ branch 1: Dropout ─┬─ TCNStream (last step) ──────────────┐
        │                     └─ TransformerStream (mean over tokens) ┴─ sum ─ Linear ─> logits_1 (B, K)
        ├─ ...
        └─ branch n ...                                                                logits_n
    logits = mean_i logits_i                                                           (B, K)

At the paper size (22 channels, 1125 samples, 4 classes) the model has 174,612 parameters: a projector of 18,272
and five branches of 31,268 (TCN 16,640 + transformer 14,496 + head 132).

The default is the clean behaviour (logits out, dropout off at eval, standard post-softmax attention dropout). The
official code's quirks are flags (see the README, "Deviations"):

* ``double_softmax``: the model returns probabilities and the cross-entropy applies log-softmax again;
* ``eval_dropout``: the dropout on the transformer vector stays active at evaluation (``F.dropout`` default);
* ``presoftmax_attn_dropout``: attention dropout on the masked pre-softmax scores, which randomly un-masks future
  tokens during training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvProjector",
    "DSTSBranch",
    "EEGEncoder",
    "EEGEncoderConfig",
    "RMSNorm",
    "TCNStream",
    "TransformerStream",
]


@dataclass
class EEGEncoderConfig:
    """Sizes of :class:`EEGEncoder`; the defaults are the paper's (22 x 1125 at 250 Hz, 4 classes)."""

    n_chans: int = 22
    n_times: int = 1125
    n_classes: int = 4
    # down-sampling projector (EEGNet/ATCNet conv block)
    f1: int = 16  # temporal filters
    depth_mult: int = 2  # spatial filters per temporal filter
    d_model: int = 32  # F2 = token width
    kernel_1: int = 64  # temporal kernel (0.25 s at 250 Hz)
    kernel_2: int = 16
    pool_1: int = 8
    pool_2: int = 7
    dropout: float = 0.3
    # DSTS branches
    n_branches: int = 5
    tcn_kernel: int = 4
    tcn_depth: int = 2  # ATCNet convention: depth 2 = one dilated residual block with dilation 2
    n_layers: int = 2
    n_heads: int = 2
    mlp_hidden: int = 32
    attn_dropout: float = 0.3
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    use_tcn: bool = True
    use_transformer: bool = True
    # official-code quirks (off = the paper's / correct behaviour)
    double_softmax: bool = False
    eval_dropout: bool = False
    presoftmax_attn_dropout: bool = False
    # compute the grouped (1, C) depthwise convolution as one batched matmul (same weights, same result, faster on CPU)
    fast_depthwise: bool = True

    @property
    def n_tokens(self) -> int:
        return self.n_times // self.pool_1 // self.pool_2

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("RoPE needs an even head dimension")
        if not (self.use_tcn or self.use_transformer):
            raise ValueError("a DSTS branch needs at least one of use_tcn / use_transformer")
        if self.use_tcn and self.n_tokens - 2 * (self.tcn_kernel - 1) < 1:
            raise ValueError(
                f"{self.n_times} samples give {self.n_tokens} tokens, too few for two valid convolutions of kernel "
                f"{self.tcn_kernel}; use longer trials or smaller pools"
            )


def _same_pad(kernel: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding: for an even kernel the extra sample goes on the right (31 | 32 for 64)."""
    return (kernel - 1) // 2, kernel // 2


# ---------------------------------------------------------------------------------------------------------------------
# Down-sampling projector
# ---------------------------------------------------------------------------------------------------------------------
class ConvProjector(nn.Module):
    """EEGNet-style conv block: temporal conv, depthwise spatial conv, two average pools -> tokens (B, L, d)."""

    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        f1, d, c = cfg.f1, cfg.depth_mult, cfg.n_chans
        self.fast_depthwise = cfg.fast_depthwise
        self.pad1, self.pad2 = _same_pad(cfg.kernel_1), _same_pad(cfg.kernel_2)
        self.conv1 = nn.Conv2d(1, f1, (1, cfg.kernel_1), bias=False)  # temporal filter, shared over channels
        self.bn1 = nn.BatchNorm2d(f1)
        self.depthwise = nn.Conv2d(f1, f1 * d, (c, 1), groups=f1, bias=False)  # D spatial filters per temporal one
        self.bn2 = nn.BatchNorm1d(f1 * d)
        self.pool1 = nn.AvgPool1d(cfg.pool_1)
        self.conv2 = nn.Conv1d(f1 * d, cfg.d_model, cfg.kernel_2, bias=False)
        self.bn3 = nn.BatchNorm1d(cfg.d_model)
        self.pool2 = nn.AvgPool1d(cfg.pool_2)
        self.drop = nn.Dropout(cfg.dropout)

    def _depthwise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F1, C, T) -> (B, F1*D, T). The grouped conv as a batched matmul with the same weight tensor."""
        if not self.fast_depthwise:
            return self.depthwise(x).squeeze(2)
        b, f1, c, t = x.shape
        w = self.depthwise.weight.view(f1, -1, c)  # (F1*D, 1, C, 1) -> (F1, D, C); output channel = f * D + d
        return torch.matmul(w, x).reshape(b, -1, t)  # (F1, D, C) @ (B, F1, C, T) -> (B, F1, D, T) -> (B, F1*D, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)  # (B, 1, C, T)
        x = self.bn1(self.conv1(F.pad(x, self.pad1)))  # (B, F1, C, T); no activation, as in EEGNet
        x = F.elu(self.bn2(self._depthwise(x)))  # (B, F1*D, T)
        x = self.drop(self.pool1(x))  # (B, F1*D, T / p1)
        x = F.elu(self.bn3(self.conv2(F.pad(x, self.pad2))))  # (B, d, T / p1)
        x = self.drop(self.pool2(x))  # (B, d, L)
        return x.transpose(1, 2)  # (B, L, d)


# ---------------------------------------------------------------------------------------------------------------------
# TCN stream
# ---------------------------------------------------------------------------------------------------------------------
def _conv_bn(d: int, kernel: int, dilation: int, act: nn.Module, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(d, d, kernel, dilation=dilation, bias=False), nn.BatchNorm1d(d), act, nn.Dropout(dropout)
    )


class _CausalBlock(nn.Module):
    """Two causal dilated convs (+BN, ReLU, dropout) with a residual connection: (B, d, L) -> (B, d, L)."""

    def __init__(self, d: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation  # left padding only = "pad both sides, chomp the right"
        self.conv_a = _conv_bn(d, kernel, dilation, nn.ReLU(), dropout)
        self.conv_b = _conv_bn(d, kernel, dilation, nn.ReLU(), dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_a(F.pad(x, (self.pad, 0)))
        y = self.conv_b(F.pad(y, (self.pad, 0)))
        return F.relu(x + y)


class TCNStream(nn.Module):
    """Two valid convs (L -> L - 2(k-1)), then dilated causal residual blocks; returns the last step (B, d)."""

    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        d, k, p = cfg.d_model, cfg.tcn_kernel, cfg.dropout
        self.stem = nn.Sequential(_conv_bn(d, k, 1, nn.SiLU(), p), _conv_bn(d, k, 1, nn.SiLU(), p))
        self.blocks = nn.Sequential(*[_CausalBlock(d, k, 2**i, p) for i in range(1, cfg.tcn_depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x.transpose(1, 2)))  # (B, d, L') with L' = L - 2(k-1)
        return y[:, :, -1]  # (B, d)


# ---------------------------------------------------------------------------------------------------------------------
# Transformer stream (LLaMA-style decoder: pre-norm RMSNorm, RoPE, causal MHA, gated SiLU MLP)
# ---------------------------------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * g, computed in float32."""

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_cache(length: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (L, head_dim) for rotary position embeddings (rotate-half convention)."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (hd/2,)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)  # (L, hd/2)
    angles = torch.cat([angles, angles], dim=-1)  # (L, hd)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, L, hd) by position: x*cos + rotate_half(x)*sin."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.head_dim = cfg.n_heads, d // cfg.n_heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.attn_dropout = cfg.attn_dropout
        self.presoftmax = cfg.presoftmax_attn_dropout

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        q, k, v = (
            p(x).view(b, l, self.n_heads, self.head_dim).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # (B, H, L, hd)
        p = self.attn_dropout if self.training else 0.0
        if self.presoftmax:
            # Official quirk: additive mask with the dtype minimum, then dropout on the scores, then softmax. A dropped
            # masked score becomes 0, i.e. that future token is attended to.
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, L, L)
            future = torch.ones(l, l, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, torch.finfo(scores.dtype).min)
            scores = F.dropout(scores, p, training=self.training)
            y = scores.softmax(dim=-1) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # (B, H, L, hd)
        return self.o_proj(y.transpose(1, 2).reshape(b, l, d))


class GatedMLP(nn.Module):
    """down(dropout(silu(gate x)) * up x), the LLaMA MLP with dropout after the activation."""

    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.mlp_hidden, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.mlp_hidden, bias=False)
        self.down_proj = nn.Linear(cfg.mlp_hidden, cfg.d_model, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.drop(F.silu(self.gate_proj(x))) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = GatedMLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)  # pre-norm residual
        return x + self.mlp(self.norm2(x))


class TransformerStream(nn.Module):
    """LLaMA-style causal decoder over the tokens, mean-pooled: (B, L, d) -> (B, d)."""

    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        cos, sin = rope_cache(cfg.n_tokens, cfg.d_model // cfg.n_heads, cfg.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l = x.shape[1]
        cos, sin = self.cos[:l], self.sin[:l]
        for layer in self.layers:
            x = layer(x, cos, sin)  # (B, L, d)
        return self.norm(x).mean(dim=1)  # (B, d)


# ---------------------------------------------------------------------------------------------------------------------
# DSTS branch and the full model
# ---------------------------------------------------------------------------------------------------------------------
class DSTSBranch(nn.Module):
    """Dual-Stream Temporal-Spatial block: TCN vector + transformer vector, summed, then a linear head."""

    def __init__(self, cfg: EEGEncoderConfig) -> None:
        super().__init__()
        self.in_drop = nn.Dropout(cfg.dropout)  # each branch drops its own copy of the tokens
        self.tcn = TCNStream(cfg) if cfg.use_tcn else None
        self.transformer = TransformerStream(cfg) if cfg.use_transformer else None
        self.trm_dropout, self.eval_dropout = cfg.dropout, cfg.eval_dropout
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.in_drop(tokens)  # (B, L, d)
        z = 0
        if self.tcn is not None:
            z = z + self.tcn(x)  # (B, d)
        if self.transformer is not None:
            # eval_dropout mimics the official F.dropout(..., training=True default)
            z = z + F.dropout(self.transformer(x), self.trm_dropout, training=self.training or self.eval_dropout)
        return self.head(z)  # (B, K)


class EEGEncoder(nn.Module):
    """EEGEncoder: (B, C, T) EEG -> (B, K) class logits (probabilities with ``double_softmax``).

    Built from an :class:`EEGEncoderConfig`, or the braindecode way, for braindecode / MOABB pipelines::

        EEGEncoder(n_chans=22, n_outputs=4, n_times=1125, sfreq=250)           # = the paper's sizes
        EEGEncoder(n_chans=28, n_outputs=2, input_window_seconds=0.5, sfreq=100, n_branches=3)

    ``n_outputs`` is the number of classes; ``n_times`` may come from ``input_window_seconds * sfreq``; with ``sfreq``
    the two temporal kernels keep their duration in seconds (64 and 16 samples at the paper's 250 Hz) unless they are
    given; ``chs_info`` (MNE channel info, as braindecode passes it) only sets ``n_chans`` when that is missing; other
    keywords are :class:`EEGEncoderConfig` fields.
    """

    PAPER_SFREQ = 250.0

    def __init__(
        self,
        cfg: EEGEncoderConfig | None = None,
        *,
        n_chans: int | None = None,
        n_outputs: int | None = None,
        n_times: int | None = None,
        sfreq: float | None = None,
        input_window_seconds: float | None = None,
        chs_info: list[Any] | None = None,
        **config: Any,
    ) -> None:
        super().__init__()
        braindecode_style = any(v is not None for v in (n_chans, n_outputs, n_times, sfreq, input_window_seconds,
                                                        chs_info)) or config  # fmt: skip
        if cfg is not None and braindecode_style:
            raise TypeError("EEGEncoder: pass either an EEGEncoderConfig or braindecode-style keywords, not both")
        if cfg is None:
            cfg = self.config_from_signal(n_chans, n_outputs, n_times, sfreq, input_window_seconds, chs_info, config)
        self.cfg = cfg
        self.projector = ConvProjector(cfg)
        self.branches = nn.ModuleList(DSTSBranch(cfg) for _ in range(cfg.n_branches))
        self.apply(self._init_weights)

    @classmethod
    def config_from_signal(
        cls,
        n_chans: int | None,
        n_outputs: int | None,
        n_times: int | None,
        sfreq: float | None,
        input_window_seconds: float | None,
        chs_info: list[Any] | None,
        config: dict[str, Any],
    ) -> EEGEncoderConfig:
        """The :class:`EEGEncoderConfig` of braindecode-style signal sizes (see the class docstring)."""
        known = {f.name for f in fields(EEGEncoderConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise TypeError(f"EEGEncoder: unknown option(s) {unknown}; EEGEncoderConfig has {sorted(known)}")
        values = dict(config)
        if n_chans is None and chs_info is not None:
            n_chans = len(chs_info)
        if n_times is None and input_window_seconds is not None:
            if sfreq is None:
                raise TypeError("EEGEncoder: input_window_seconds needs sfreq to give n_times")
            n_times = round(input_window_seconds * sfreq)
        for name, value in (("n_chans", n_chans), ("n_classes", n_outputs), ("n_times", n_times)):
            if value is not None:
                values[name] = int(value)
        if sfreq is not None:
            scale = float(sfreq) / cls.PAPER_SFREQ
            for name in ("kernel_1", "kernel_2"):
                values.setdefault(name, max(1, round(getattr(EEGEncoderConfig, name) * scale)))
        return EEGEncoderConfig(**values)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # LLaMA init N(0, 0.02) for the transformer linears (the official code's PreTrainedModel init); the heads and
        # convs keep PyTorch's defaults (the official heads/convs are plain torch modules).
        if isinstance(m, CausalSelfAttention | GatedMLP):
            for lin in m.children():
                if isinstance(lin, nn.Linear):
                    nn.init.normal_(lin.weight, std=0.02)

    def forward(
        self, x: torch.Tensor, return_branches: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        tokens = self.projector(x)  # (B, L, d)
        branch_logits = torch.stack([b(tokens) for b in self.branches], dim=1)  # (B, n, K)
        out = branch_logits.mean(dim=1)  # (B, K): average of the branch logits
        if self.cfg.double_softmax:
            out = out.softmax(dim=-1)  # official: the model emits probabilities
        return (out, branch_logits) if return_branches else out

    def l2_groups(self) -> dict[str, list[nn.Parameter]]:
        """Weights that carry the official explicit L2 penalties: every conv, and transformer linears + heads."""
        conv = [m.weight for m in self.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
        trm = [
            m.weight for m in self.modules() if isinstance(m, nn.Linear)
        ]  # q, k, v, o, gate, up, down and the branch heads (weights, not biases)
        return {"conv": conv, "transformer": trm}
