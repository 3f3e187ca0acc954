"""SASRec backbone with a Q head and a CE head (paper Sec. 3, "SASRec-CCQL"; the SQN/SAC two-head design).

::

    state s (B, L) right-padded with pad = n_items (mask token n_items + 1), len_state (B,)
        │ item embedding * sqrt(d) + positional embedding, dropout, pads zeroed
        ▼
    n_blocks × [ LN(query) → causal multi-head attention (key/query pad masks) + residual
                 → LN → pointwise FFN (ReLU) + residual, pads zeroed ]
        │ final LayerNorm
        ▼
    h = output at position len_state - 1  (B, d)
        ├── q_head  → Q(s, ·)      (B, n_items)   TD / conservative terms
        └── ce_head → logits(s, ·) (B, n_items)   cross-entropy, ranking at evaluation

``QNetwork`` is one such network; the double-Q learner (``module.py``) holds two and flips a coin each step for which
one is trained (the other is the target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["QNetwork", "SASRecConfig", "SASRecEncoder"]


@dataclass
class SASRecConfig:
    """Sizes of the SASRec encoder and its heads. ``n_items`` comes from the data; pad id = ``n_items``."""

    n_items: int = 400
    state_len: int = 10
    hidden: int = 64
    n_blocks: int = 1
    n_heads: int = 1
    dropout: float = 0.1
    init_std: float = 0.01

    def __post_init__(self) -> None:
        if self.n_items < 2:
            raise ValueError(f"n_items must be >= 2, got {self.n_items}")
        if self.state_len < 1 or self.n_blocks < 1 or self.n_heads < 1:
            raise ValueError("state_len, n_blocks and n_heads must be >= 1")
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def pad(self) -> int:
        return self.n_items


class _Block(nn.Module):
    """Pre-LN causal self-attention + pointwise FFN, each with a residual (the SASRec TF-port layout)."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        d = cfg.hidden
        self.ln_q = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.ln_ff = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(d, d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, causal: Tensor, keep: Tensor) -> Tensor:
        q = self.ln_q(x)  # (B, L, d): queries normalised, keys/values raw, as in SASRec
        # a query row whose keys are all masked would give NaN: causal + pad masks leave at least position 0 visible
        a, _ = self.attn(q, x, x, attn_mask=causal, key_padding_mask=~keep, need_weights=False)  # (B, L, d)
        x = q + self.drop(a)
        x = x + self.drop(self.ff(self.ln_ff(x)))  # (B, L, d)
        return x * keep[..., None]  # pads zeroed again


class SASRecEncoder(nn.Module):
    """States (B, L) + lengths (B,) -> state vectors h (B, d)."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden
        self.item_emb = nn.Embedding(cfg.n_items + 2, d)  # row n_items = pad, n_items + 1 = mask token
        self.pos_emb = nn.Embedding(cfg.state_len, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_blocks))
        self.ln = nn.LayerNorm(d)
        causal = torch.triu(torch.ones(cfg.state_len, cfg.state_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)  # True = not allowed to attend

    def sequence(self, state: Tensor) -> Tensor:
        """Per-position outputs (B, L, d)."""
        keep = state != self.cfg.pad  # (B, L)
        keep = keep.clone()
        keep[:, 0] = True  # an all-pad state (no history yet) still reads position 0, as in the official code
        pos = torch.arange(state.shape[1], device=state.device)
        x = self.item_emb(state) * math.sqrt(self.cfg.hidden) + self.pos_emb(pos)[None]  # (B, L, d)
        x = self.drop(x) * (state != self.cfg.pad)[..., None]  # pad embeddings zeroed
        for block in self.blocks:
            x = block(x, self.causal[: state.shape[1], : state.shape[1]], keep)
        return self.ln(x)  # (B, L, d)

    def forward(self, state: Tensor, len_state: Tensor) -> Tensor:
        seq = self.sequence(state)  # (B, L, d)
        idx = (len_state.long().clamp(1, state.shape[1]) - 1)[:, None, None].expand(-1, 1, seq.shape[-1])
        return seq.gather(1, idx).squeeze(1)  # (B, d): the output at position len_state - 1


class QNetwork(nn.Module):
    """SASRec encoder + Q head + CE head (one of the two networks of the double-Q learner)."""

    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = SASRecEncoder(cfg)
        self.q_head = nn.Linear(cfg.hidden, cfg.n_items)
        self.ce_head = nn.Linear(cfg.hidden, cfg.n_items)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # N(0, 0.01) for every weight matrix and embedding (the official initialisation); LayerNorms at (1, 0)
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=self.cfg.init_std)
            elif "ln" not in name:
                nn.init.zeros_(p)

    def forward(self, state: Tensor, len_state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(h (B, d), Q (B, n_items), CE logits (B, n_items))."""
        h = self.encoder(state, len_state)
        return h, self.q_head(h), self.ce_head(h)
