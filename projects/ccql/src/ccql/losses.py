"""The objective's terms (paper Sec. 3): double-Q TD target, the conservative (CQL) term, the contrastive NT-Xent
term, the Q-weighted cross-entropy, and the three sequence augmentations.

All functions are pure torch on batches; shapes in the comments: B batch, N items, L state length, d hidden size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "augment",
    "conservative_term",
    "nt_xent",
    "sample_negatives",
    "td_target",
    "weighted_ce",
]


def td_target(reward: Tensor, done: Tensor, q_next_main: Tensor, q_next_target: Tensor, gamma: float) -> Tensor:
    """Double-Q target y = r + gamma * (1 - done) * Q_target(s', argmax_a Q_main(s', a)), no gradient. (B,)"""
    with torch.no_grad():
        a_star = q_next_main.argmax(dim=1, keepdim=True)  # (B, 1): the main network selects
        q_star = q_next_target.gather(1, a_star).squeeze(1)  # (B,): the target network evaluates
        return reward + gamma * (1.0 - done.float()) * q_star


def sample_negatives(action: Tensor, n_items: int, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` uniform item ids per row, none equal to that row's data action. (B, n)"""
    b = action.shape[0]
    # draw from the N - 1 other items and shift the ones at or above the action: uniform over items != action
    neg = torch.randint(0, n_items - 1, (b, n), device=action.device, generator=generator)
    return neg + (neg >= action[:, None]).long()


def conservative_term(
    q: Tensor,
    action: Tensor,
    negatives: Tensor,
    temp: float,
    code_faithful: bool = False,
    greedy_index: Tensor | None = None,
) -> Tensor:
    """CQL(H)-style penalty, per row (B,): temp * logsumexp_{a in A_s} Q(s,a)/temp - Q(s, a_data).

    A_s = {sampled negatives, the data action, the greedy action argmax_a Q(s, a)}; q (B, N), action (B,),
    negatives (B, K). With ``code_faithful`` the third member is the official code's: the *index* of the greedy
    next-state action used as if it were a Q value (``greedy_index`` (B,), cast to float), which makes the term a
    near-constant push up on Q(s, a_data) instead of a conservative penalty.
    """
    q_data = q.gather(1, action[:, None])  # (B, 1)
    q_neg = q.gather(1, negatives)  # (B, K)
    if code_faithful:
        if greedy_index is None:
            raise ValueError("code_faithful needs greedy_index")
        third = greedy_index.to(q.dtype)[:, None]  # (B, 1): an item id, not a Q value (the official bug)
    else:
        third = q.max(dim=1, keepdim=True).values  # (B, 1): Q(s, argmax_a Q(s, a))
    cat = torch.cat([q_neg, q_data, third], dim=1)  # (B, K + 2)
    return temp * torch.logsumexp(cat / temp, dim=1) - q_data.squeeze(1)


def nt_xent(z1: Tensor, z2: Tensor, temp: float) -> Tensor:
    """NT-Xent (SimCLR) on 2B vectors with cosine similarity; the positive of z1[i] is z2[i] and vice versa. Scalar."""
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2B, d)
    sim = z @ z.T / temp  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))  # no self-pairs
    pos = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)  # (2B,)
    return F.cross_entropy(sim, pos)


def weighted_ce(logits: Tensor, action: Tensor, weight: Tensor | None, batch_mean: bool = False) -> Tensor:
    """Cross-entropy, optionally weighted per sample by a (detached) weight (B,).

    ``batch_mean`` reproduces the official code: mean(weight) * mean(CE), which loses the per-sample weighting.
    """
    ce = F.cross_entropy(logits, action, reduction="none")  # (B,)
    if weight is None:
        return ce.mean()
    w = weight.detach()
    return w.mean() * ce.mean() if batch_mean else (w * ce).mean()


def augment(
    state: Tensor,
    len_state: Tensor,
    pad: int,
    kind: str,
    *,
    crop_ratio: float = 0.6,
    mask_prob: float = 0.15,
    reorder_ratio: float = 0.6,
    code_faithful: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """An augmented copy of right-padded states (B, L) and its lengths (B,) (CL4SRec's crop / mask / reorder).

    Padding-aware (the default): every operation acts on the first ``len_state`` items only, and a pad never moves
    in front of an item. ``crop`` keeps a random contiguous window of ceil(crop_ratio * len) items (moved to the
    front); ``mask`` replaces each item by the mask token (id pad + 1) with probability ``mask_prob`` (CL4SRec);
    ``permutation`` (reorder) shuffles a random contiguous window of ceil(reorder_ratio * len) items.
    ``code_faithful`` gives the official versions: ``permutation`` shuffles the whole padded row, ``crop`` sets 2-3
    contiguous positions of the row to pad, ``mask`` turns any position into pad.
    """
    b, length = state.shape
    dev = state.device
    n = len_state.long().clamp(1, length)  # (B,)
    pos = torch.arange(length, device=dev)[None].expand(b, -1)  # (B, L)
    valid = (pos < n[:, None]) & (state != pad)  # (B, L)

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, device=dev, generator=generator)

    if kind == "mask":
        drop = rand(b, length) < mask_prob
        if code_faithful:  # any position, replaced by the pad id
            return state.masked_fill(drop, pad), len_state.clone()
        return state.masked_fill(drop & valid, pad + 1), len_state.clone()  # items only, by the mask token
    if kind == "crop":
        if code_faithful:
            width = 2 + (rand(b) < 0.5).long()  # (B,) 2 or 3 positions
            start = (rand(b) * (length - width + 1).float()).long()
            hole = (pos >= start[:, None]) & (pos < (start + width)[:, None])
            return state.masked_fill(hole, pad), len_state.clone()
        width = torch.ceil(crop_ratio * n.float()).long().clamp(1)  # (B,)
        start = (rand(b) * (n - width + 1).float()).long()  # (B,) in [0, n - width]
        src = (start[:, None] + pos).clamp(max=length - 1)  # (B, L)
        out = state.gather(1, src).masked_fill(pos >= width[:, None], pad)
        return out, width.to(len_state.dtype)
    if kind == "permutation":
        if code_faithful:
            keys = rand(b, length)
        else:
            width = torch.ceil(reorder_ratio * n.float()).long().clamp(1)
            start = (rand(b) * (n - width + 1).float()).long()
            inside = (pos >= start[:, None]) & (pos < (start + width)[:, None])
            # sort keys: positions outside the window keep their place; inside it, random keys in [start, start+w)
            keys = torch.where(inside, start[:, None] + rand(b, length) * width[:, None].float(), pos.float())
        order = keys.argsort(dim=1, stable=True)  # (B, L)
        return state.gather(1, order), len_state.clone()
    raise ValueError(f"unknown augmentation {kind!r} (crop, mask, permutation)")
