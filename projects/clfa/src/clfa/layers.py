"""Building blocks of CLFA's fusion stage (paper Sec. 3, "cross-modal fusion"; official ``BertCrossEncoder``).

* :class:`ProjectionMLP`: Linear -> ReLU -> Linear, mapping encoder tokens into the 512-d CLIP space.
* :class:`AttentionBlock`: BERT-style multi-head attention with a post-LN residual, an additive key mask and an
  optional additive score bias (the SenticNet graphs of the official code).
* :class:`CrossEncoderLayer` / :class:`CrossEncoder`: text self-attention -> text->image cross-attention ->
  optional text->auxiliary-text (OCR) cross-attention -> FFN, stacked ``n_layers`` times.
* :class:`CoAttention`: the alternative "co-attention" aggregator (parallel co-attention, Lu et al. 2016).
* :func:`pool`: masked mean / CLS / masked max pooling over the text positions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["AttentionBlock", "CoAttention", "CrossEncoder", "CrossEncoderLayer", "FeedForward", "ProjectionMLP", "pool"]

NEG = -10000.0  # the official additive mask value, (1 - m) * -10000


class ProjectionMLP(nn.Module):
    """Linear -> ReLU -> Linear (official ``mlp_text`` / ``mlp_image``: 768 -> 1536 -> 512)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, d_in) -> (B, L, d_out)
        return self.net(x)


class AttentionBlock(nn.Module):
    """Multi-head attention + dense + dropout + LayerNorm(x + query), as in BERT's attention sub-layer.

    scores = Q Kᵀ / √d_h + (1 − m)·(−10000) + bias, softmax over keys, attention dropout.
    """

    def __init__(self, hidden: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by the number of heads {heads}")
        self.heads, self.d_head = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_drop = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden, hidden)
        self.out_drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, h, L, d_h)
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.d_head).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, Lq, D) attends to context (B, Lk, D); mask (B, Lk) 1 = keep; bias (B, Lq, Lk); -> (B, Lq, D)."""
        q, k, v = self._split(self.query(x)), self._split(self.key(context)), self._split(self.value(context))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)  # (B, h, Lq, Lk)
        if context_mask is not None:
            scores = scores + (1.0 - context_mask.to(scores.dtype))[:, None, None, :] * NEG
        if bias is not None:
            scores = scores + bias.to(scores.dtype)[:, None]  # broadcast over heads: (B, 1, Lq, Lk)
        probs = self.attn_drop(scores.softmax(-1))
        ctx = (probs @ v).transpose(1, 2).reshape(x.shape)  # (B, Lq, D)
        return self.norm(x + self.out_drop(self.dense(ctx)))


class FeedForward(nn.Module):
    """BERT intermediate + output: Linear(D, 4D) -> GELU -> Linear(4D, D) -> dropout -> LayerNorm(x + ·)."""

    def __init__(self, hidden: int, inner: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden), nn.Dropout(dropout))
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.net(x))


class CrossEncoderLayer(nn.Module):
    """One fusion layer: text self-attn (+γ·S_tt) -> text->image -> [text->aux (+G_tk)] -> FFN."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.1, use_aux: bool = False) -> None:
        super().__init__()
        self.self_attn = AttentionBlock(hidden, heads, dropout)
        self.image_attn = AttentionBlock(hidden, heads, dropout)
        self.aux_attn = AttentionBlock(hidden, heads, dropout) if use_aux else None
        self.ffn = FeedForward(hidden, 4 * hidden, dropout)

    def forward(
        self,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        image: torch.Tensor,
        aux: torch.Tensor | None = None,
        aux_mask: torch.Tensor | None = None,
        self_bias: torch.Tensor | None = None,
        aux_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        text = self.self_attn(text, text, text_mask, self_bias)  # (B, Lt, D)
        text = self.image_attn(text, image)  # image mask is all ones in the official code
        if self.aux_attn is not None and aux is not None:
            text = self.aux_attn(text, aux, aux_mask, aux_bias)
        return self.ffn(text)


class CrossEncoder(nn.Module):
    """``n_layers`` identical :class:`CrossEncoderLayer` (official ``attn_layer_num`` = 3)."""

    def __init__(self, hidden: int, heads: int, n_layers: int, dropout: float = 0.1, use_aux: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CrossEncoderLayer(hidden, heads, dropout, use_aux) for _ in range(n_layers))

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, image: torch.Tensor, **kw: torch.Tensor | None):
        for layer in self.layers:
            text = layer(text, text_mask, image, **kw)
        return text  # (B, Lt, D)


class CoAttention(nn.Module):
    """Parallel co-attention aggregator (Lu et al. 2016, Eq. 3-4), in two forms.

    ``form="official"`` (default: CLFA's ``mymodel.py::CoAttention``): C = Q W_b Vᵀ (no tanh), no dropout, no bias
    on W_s. ``form="lu2016"``: C = tanh(Q W_b Vᵀ) as in Lu et al., dropout on H before the attention scores, a bias on
    W_s. Both: H_v = tanh(V W_v + Cᵀ(Q W_q)), H_q = tanh(Q W_q + C (V W_v)); a_v = softmax(H_v w_v),
    a_q = softmax(H_q w_q); h = tanh(W_s(Σ a_v v + Σ a_q q)). Padded text positions are masked in both forms: their
    affinity rows are zeroed (so they do not reach H_v) and they get no attention in a_q (the official code passes the
    mask but never applies it, so padding changes the output: a bug, not kept).
    """

    def __init__(self, hidden: int, k: int, dropout: float = 0.1, form: str = "official") -> None:
        super().__init__()
        if form not in ("official", "lu2016"):
            raise ValueError(f"unknown co-attention form {form!r}; expected 'official' or 'lu2016'")
        self.form = form
        self.w_b = nn.Linear(hidden, hidden, bias=False)
        self.w_v = nn.Linear(hidden, k, bias=False)
        self.w_q = nn.Linear(hidden, k, bias=False)
        self.w_hv = nn.Linear(k, 1, bias=False)
        self.w_hq = nn.Linear(k, 1, bias=False)
        self.w_s = nn.Linear(hidden, hidden, bias=form == "lu2016")
        self.drop = nn.Dropout(dropout) if form == "lu2016" else nn.Identity()

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """text (B, Lt, D), text_mask (B, Lt), image (B, Lv, D) -> (B, D)."""
        affinity = self.w_b(text) @ image.transpose(1, 2)  # (B, Lt, Lv)
        if self.form == "lu2016":
            affinity = torch.tanh(affinity)  # Lu et al. Eq. 3
        affinity = affinity * text_mask.to(text.dtype).unsqueeze(-1)  # padded text rows carry no affinity
        wq, wv = self.w_q(text), self.w_v(image)  # (B, Lt, k), (B, Lv, k)
        h_v = torch.tanh(wv + affinity.transpose(1, 2) @ wq)  # (B, Lv, k)
        h_q = torch.tanh(wq + affinity @ wv)  # (B, Lt, k)
        a_v = self.w_hv(self.drop(h_v)).squeeze(-1).softmax(-1)  # (B, Lv)
        s_q = self.w_hq(self.drop(h_q)).squeeze(-1) + (1.0 - text_mask.to(text.dtype)) * NEG
        a_q = s_q.softmax(-1)  # (B, Lt)
        v_hat = (a_v.unsqueeze(-1) * image).sum(1)
        q_hat = (a_q.unsqueeze(-1) * text).sum(1)
        return torch.tanh(self.w_s(v_hat + q_hat))  # (B, D)


def pool(x: torch.Tensor, mask: torch.Tensor, kind: str = "mean") -> torch.Tensor:
    """Pool (B, L, D) over valid positions (mask (B, L), 1 = valid) -> (B, D). Official ``pooling_type`` 1 = mean."""
    m = mask.to(x.dtype).unsqueeze(-1)  # (B, L, 1)
    if kind == "mean":
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    if kind == "cls":
        return x[:, 0]
    if kind == "max":
        return (x + (1.0 - m) * NEG).max(1).values
    raise ValueError(f"unknown pooling {kind!r}; expected 'mean', 'cls' or 'max'")
