"""CLFA's objective (paper Sec. 3.3; official ``models.py``): CE + α·(L_img + L_txt).

con(F, m, C): p_i = normalize(Σ_t m_it f_it / Σ_t m_it), q_i = normalize(c_i), S_ij = p_i·q_j / τ,
L_con = −(1/2B) Σ_i [log softmax_j(S_ij)_i + log softmax_j(S_ji)_i]  (symmetric in-batch InfoNCE, τ = 0.1 fixed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["clfa_loss", "contrastive_alignment"]


def contrastive_alignment(
    tokens: torch.Tensor, mask: torch.Tensor | None, teacher: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Symmetric InfoNCE between masked-mean pooled tokens (B, L, D) and frozen teacher embeddings (B, D)."""
    if mask is None:
        pooled = tokens.mean(1)
    else:
        m = mask.to(tokens.dtype).unsqueeze(-1)  # (B, L, 1)
        pooled = (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)
    p = F.normalize(pooled, dim=-1)
    q = F.normalize(teacher.to(p.dtype), dim=-1)
    sim = p @ q.t() / temperature  # (B, B)
    target = torch.arange(sim.shape[0], device=sim.device)
    return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target))


def clfa_loss(
    out: dict[str, torch.Tensor],
    labels: torch.Tensor,
    teacher_text: torch.Tensor | None,
    teacher_image: torch.Tensor | None,
    alpha: float = 1.0,
    beta: float = 1.0,
    temperature: float = 0.1,
) -> dict[str, torch.Tensor]:
    """L = α(L_img + L_txt) + β·CE. The image mask is all ones (CLS included), the text mask is the padding mask."""
    ce = F.cross_entropy(out["logits"], labels)
    losses = {"ce": ce}
    total = beta * ce
    if teacher_text is not None and teacher_image is not None:
        l_img = contrastive_alignment(out["image_tokens"], None, teacher_image, temperature)
        l_txt = contrastive_alignment(out["text_tokens"], out["text_mask"], teacher_text, temperature)
        losses.update(l_img=l_img, l_txt=l_txt)
        if alpha:
            total = total + alpha * (l_img + l_txt)
    elif alpha:
        raise ValueError("alpha > 0 needs teacher_text and teacher_image in the batch")
    losses["loss"] = total
    return losses
