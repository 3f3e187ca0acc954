"""The SAMI objective (paper Sec. 2, "SAMI"): an InfoNCE bound on the conditional mutual information I(Y; C | X).

For one query x, C constitutions c_1..c_C and the C responses y_1..y_C that the current policy wrote under them
(y_j under c_j), the log-probability matrix is

    L[i, j] = log pi(y_j | x, c_i)            summed over y_j's tokens ("sum") or averaged ("mean", the paper's loss)

          responses y_j ->
    c_i  [ L00  L01 ]      row i:    which response was written under c_i?      softmax over j
     |   [ L10  L11 ]      column j: which constitution produced y_j?          softmax over i  (the MI bound proper)

    loss = 1/2 * ( mean_i CE(L[i, :], i) + mean_j CE(L[:, j], j) )

The column term is -log p(c_j | x, y_j) under a uniform prior on C, so log C - column term is the InfoNCE lower bound
on I(Y; C | X); the row term is the CLIP-style symmetric addition. Queries are never mixed: every query has its own
C x C matrix and the loss is the mean over queries.

Sequences are prompt_i + response_j as concatenated token ids (no assumption that the tokenizer would split the joined
text at the same boundary); the response mask marks the response tokens as targets, so after the one-token shift
the first response token is scored and the prompt and padding are not.

This file is pure torch: tensors in, tensors out. The policy is any ``transformers`` causal LM (``model(input_ids,
attention_mask).logits``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LengthNorm",
    "SamiLossConfig",
    "build_sequences",
    "kl_from_logits",
    "logprob_matrix",
    "mi_lower_bound",
    "response_logprobs",
    "sami_loss",
]

LengthNorm = Literal["mean", "sum"]


@dataclass
class SamiLossConfig:
    """How the objective is computed.

    length_norm: ``mean`` (per-token average, the paper's loss) or ``sum`` (summed log-probabilities).
    kl_beta: weight of KL(pi || pi_ref) on the own-constitution sequences (0 in every released run).
    """

    length_norm: LengthNorm = "mean"
    kl_beta: float = 0.0

    def __post_init__(self) -> None:
        if self.length_norm not in ("mean", "sum"):
            raise ValueError(f"length_norm must be 'mean' or 'sum', got {self.length_norm!r}")
        if self.kl_beta < 0:
            raise ValueError("kl_beta must be >= 0")


def sami_loss(logp: torch.Tensor) -> dict[str, torch.Tensor]:
    """The symmetric InfoNCE loss of a (B, C, C) matrix ``logp[b, i, j] = log pi(y_j | x_b, c_i)``.

    Returns ``loss`` (mean over queries of 1/2 (row + column)), the two terms, and the row/column accuracies (the
    fraction of rows/columns whose diagonal entry is the largest).
    """
    if logp.dim() == 2:
        logp = logp.unsqueeze(0)
    if logp.dim() != 3 or logp.shape[-1] != logp.shape[-2]:
        raise ValueError(f"expected a (B, C, C) matrix, got {tuple(logp.shape)}")
    row = -logp.log_softmax(dim=-1).diagonal(dim1=-2, dim2=-1)  # (B, C): normalise over responses j
    col = -logp.log_softmax(dim=-2).diagonal(dim1=-2, dim2=-1)  # (B, C): normalise over constitutions i
    target = torch.arange(logp.shape[-1], device=logp.device)
    acc_row = (logp.argmax(dim=-1) == target).float().mean()
    acc_col = (logp.argmax(dim=-2) == target).float().mean()
    loss_row, loss_col = row.mean(), col.mean()
    return {"loss": 0.5 * (loss_row + loss_col), "loss_row": loss_row, "loss_col": loss_col,
            "acc_row": acc_row, "acc_col": acc_col}  # fmt: skip


def mi_lower_bound(logp_sum: torch.Tensor) -> torch.Tensor:
    """Per-query conditional-MI estimate from a (B, C, C) matrix of *summed* log-probabilities (y_j sampled under
    c_j): mean_j [ S[j, j] - log mean_i exp S[i, j] ]  (<= log C).  Returns (B,)."""
    c = logp_sum.shape[-1]
    log_mean = torch.logsumexp(logp_sum, dim=-2) - torch.log(torch.tensor(float(c), device=logp_sum.device))  # (B, C)
    return (logp_sum.diagonal(dim1=-2, dim2=-1) - log_mean).mean(dim=-1)


def build_sequences(
    prompts: list[list[int]],
    responses: list[list[int]],
    pad_id: int,
    eos_id: int | None = None,
    max_length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The C x C sequences of one query, row-major: index i * C + j = prompt_i + response_j (+ EOS).

    Returns ``input_ids`` (C*C, T), ``attention_mask`` (C*C, T) and ``response_mask`` (C*C, T): True on the
    response tokens (and the appended EOS). Right padding with ``pad_id``; the masks are built from lengths, never
    from token ids, so an EOS that equals the pad token is still scored.
    """
    seqs, resp = [], []
    for p in prompts:
        for r in responses:
            r = list(r) + ([eos_id] if eos_id is not None else [])
            ids = list(p) + r
            if max_length is not None and len(ids) > max_length:
                raise ValueError(f"a prompt + response of {len(ids)} tokens is longer than max_length={max_length}")
            seqs.append(ids)
            resp.append((len(p), len(ids)))
    t = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), t), pad_id, dtype=torch.long)
    attention = torch.zeros((len(seqs), t), dtype=torch.long)
    response = torch.zeros((len(seqs), t), dtype=torch.bool)
    for k, (s, (a, b)) in enumerate(zip(seqs, resp)):
        input_ids[k, : len(s)] = torch.tensor(s, dtype=torch.long)
        attention[k, : len(s)] = 1
        response[k, a:b] = True
    return input_ids, attention, response


def response_logprobs(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_mask: torch.Tensor,
    length_norm: LengthNorm = "mean",
    chunk: int | None = None,
) -> torch.Tensor:
    """log pi(response | prompt) of every sequence in (N, T) tensors: summed or averaged over response tokens. (N,)

    The logits at position t score token t+1 (labels shift by one), so the mask is ``response_mask[:, 1:]``.
    ``chunk`` bounds the sequences per forward pass (memory).
    """
    outs = []
    n = input_ids.shape[0]
    step = chunk or n
    for s in range(0, n, step):
        ids, att, rm = input_ids[s : s + step], attention_mask[s : s + step], response_mask[s : s + step]
        logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]  # (n, T-1, V)
        targets = ids[:, 1:]  # (n, T-1)
        tok = -F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
        mask = rm[:, 1:].to(tok.dtype)  # (n, T-1): targets that are response tokens
        total = (tok * mask).sum(dim=-1)
        outs.append(total / mask.sum(dim=-1).clamp_min(1.0) if length_norm == "mean" else total)
    return torch.cat(outs)


def logprob_matrix(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_mask: torch.Tensor,
    length_norm: LengthNorm = "mean",
    chunk: int | None = None,
) -> torch.Tensor:
    """(B, C*C, T) row-major sequences -> the (B, C, C) matrix L[b, i, j] = log pi(y_j | x_b, c_i)."""
    b, cc, t = input_ids.shape
    c = round(math.sqrt(cc))
    if c * c != cc:
        raise ValueError(f"{cc} sequences per query is not a square number of (constitution, response) pairs")
    flat = response_logprobs(
        model, input_ids.reshape(b * cc, t), attention_mask.reshape(b * cc, t), response_mask.reshape(b * cc, t),
        length_norm, chunk,
    )  # fmt: skip
    return flat.view(b, c, c)


def kl_from_logits(logits: torch.Tensor, ref_logits: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Mean over response tokens of KL(pi || pi_ref) from (N, T, V) next-token logits of the same sequences."""
    logp, logq = logits[:, :-1].float().log_softmax(-1), ref_logits[:, :-1].float().log_softmax(-1)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (N, T-1)
    mask = response_mask[:, 1:].to(kl.dtype)
    return (kl * mask).sum() / mask.sum().clamp_min(1.0)
