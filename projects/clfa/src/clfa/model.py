"""The CLFA network (paper Sec. 3; official ``models.py::VitBERT``).

text -> BERT -> (B, Lt, H_t) -> mlp_text -> T (B, Lt, D)        D = CLIP width (512 in the paper)
image -> ViT -> (B, Lv, H_v) -> mlp_image -> V (B, Lv, D)       Lv = 1 + n_patches (50 for ViT-B/32 at 224 px)
[OCR text -> same BERT -> mlp_text -> K (B, Lk, D)]             optional "knowledge" stream, off by default
aggregator "cross": CrossEncoder(T, V, K) -> masked mean over text -> dropout -> Linear(D, n_classes)
aggregator "coattention": CoAttention(T, V) -> Linear(D, n_classes) (form "lu2016": with dropout before the head)

T and V (before fusion) are what the contrastive alignment loss pulls toward the frozen CLIP embeddings
(:mod:`clfa.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from clfa.encoders import EncoderSizes, build_image_encoder, build_text_encoder
from clfa.layers import CoAttention, CrossEncoder, ProjectionMLP, pool

__all__ = ["CLFA", "CLFAConfig"]


@dataclass
class CLFAConfig:
    """Everything that shapes the network. Defaults = the embedded (tiny, CPU) setting."""

    n_classes: int = 2
    text_encoder: str = "tiny"
    image_encoder: str = "tiny"
    sizes: EncoderSizes = field(default_factory=EncoderSizes)
    proj_hidden: int = 96  # paper 1536
    proj_dim: int = 32  # paper 512 = CLIP ViT-B/32 embedding width
    fusion_layers: int = 2  # paper 3
    fusion_heads: int = 4  # paper 8
    dropout: float = 0.1
    aggregator: str = "cross"  # "cross" (CLFA) | "coattention"
    coattention_form: str = "official"  # "official" (CLFA's mymodel.py) | "lu2016" (see layers.CoAttention)
    pooling: str = "mean"  # official pooling_type 1
    use_ocr: bool = False


class CLFA(nn.Module):
    """Text + image encoders, projections into the CLIP space, fusion, pooling and the classifier."""

    def __init__(self, cfg: CLFAConfig) -> None:
        super().__init__()
        if cfg.aggregator not in ("cross", "coattention"):
            raise ValueError(f"unknown aggregator {cfg.aggregator!r}; expected 'cross' or 'coattention'")
        self.cfg = cfg
        self.text_encoder = build_text_encoder(cfg.text_encoder, cfg.sizes)
        self.image_encoder = build_image_encoder(cfg.image_encoder, cfg.sizes)
        h_t, h_v = self.text_encoder.config.hidden_size, self.image_encoder.config.hidden_size
        self.mlp_text = ProjectionMLP(h_t, cfg.proj_hidden, cfg.proj_dim)  # shared by text and OCR
        self.mlp_image = ProjectionMLP(h_v, cfg.proj_hidden, cfg.proj_dim)
        if cfg.aggregator == "cross":
            self.fusion = CrossEncoder(cfg.proj_dim, cfg.fusion_heads, cfg.fusion_layers, cfg.dropout, cfg.use_ocr)
        else:
            self.fusion = CoAttention(cfg.proj_dim, cfg.proj_dim, cfg.dropout, cfg.coattention_form)
        self.drop = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.proj_dim, cfg.n_classes)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> projected tokens (B, L, D)."""
        h = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.mlp_text(h)

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> projected tokens (B, 1 + n_patches, D)."""
        return self.mlp_image(self.image_encoder(pixel_values=pixel_values).last_hidden_state)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor,
        ocr_ids: torch.Tensor | None = None,
        ocr_mask: torch.Tensor | None = None,
        self_bias: torch.Tensor | None = None,
        aux_bias: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Returns logits (B, C), text_tokens T (B, Lt, D), image_tokens V (B, Lv, D) and the text mask (B, Lt)."""
        text = self.encode_text(input_ids, attention_mask)  # (B, Lt, D)
        image = self.encode_image(pixel_values)  # (B, Lv, D)
        if self.cfg.aggregator == "cross":
            aux = None
            if self.cfg.use_ocr:
                if ocr_ids is None or ocr_mask is None:
                    raise ValueError("use_ocr=True needs ocr_ids and ocr_mask in the batch (enable data.use_ocr)")
                aux = self.encode_text(ocr_ids, ocr_mask)  # (B, Lk, D), same BERT and mlp_text
            fused = self.fusion(
                text, attention_mask, image, aux=aux, aux_mask=ocr_mask, self_bias=self_bias, aux_bias=aux_bias
            )
            pooled = pool(fused, attention_mask, self.cfg.pooling)  # (B, D)
        else:
            pooled = self.fusion(text, attention_mask, image)  # (B, D)
        # the official co-attention model puts its head on the co-attention output directly (no dropout)
        official_head = self.cfg.aggregator == "coattention" and self.cfg.coattention_form == "official"
        logits = self.classifier(pooled if official_head else self.drop(pooled))  # (B, C)
        return {"logits": logits, "text_tokens": text, "image_tokens": image, "text_mask": attention_mask}
