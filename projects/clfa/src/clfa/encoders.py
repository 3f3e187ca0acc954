"""Text and image encoders through ``transformers`` (paper Sec. 3: BERT-base text encoder, ViT-B/32 image encoder).

An encoder is named by one string:

* ``"tiny"``: a small random-initialised BERT / ViT built from the sizes in :class:`EncoderSizes` (embedded default);
* ``"random-base"``: the paper-sized architecture (BERT-base, ViT-B/32 at 224 px) with random weights, no download
  (benchmarks, CPU smoke runs);
* anything else: a Hugging Face hub id or a local folder written by ``save_pretrained``, loaded with
  ``from_pretrained`` (``bert-base-uncased``, ``google/vit-base-patch32-224-in21k``).

Both encoders return token features after their final LayerNorm: text (B, L, H_t), image (B, 1 + n_patches, H_v).
Neither builds its pooler: the pooler is unused by CLFA, and unused parameters would break "every parameter gets a
gradient" and DDP.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from transformers import AutoModel, BertConfig, BertModel, ViTConfig, ViTModel

from paperkit.errors import PaperkitError

__all__ = ["EncoderSizes", "build_image_encoder", "build_text_encoder"]

_HINT = "give a hub id (needs the network or the HF cache) or a local folder written by save_pretrained"


@dataclass
class EncoderSizes:
    """Sizes of the ``tiny`` encoders (ignored for ``random-base`` and pretrained names)."""

    vocab_size: int = 30522
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_positions: int = 128
    image_size: int = 32
    patch_size: int = 8
    image_hidden: int = 64
    image_layers: int = 2
    image_heads: int = 4


def build_text_encoder(name: str, sizes: EncoderSizes) -> nn.Module:
    """A ``BertModel``-like encoder without pooler; ``.config.hidden_size`` gives its width."""
    if name == "tiny":
        cfg = BertConfig(
            vocab_size=sizes.vocab_size,
            hidden_size=sizes.text_hidden,
            num_hidden_layers=sizes.text_layers,
            num_attention_heads=sizes.text_heads,
            intermediate_size=4 * sizes.text_hidden,
            max_position_embeddings=sizes.max_positions,
        )
        return BertModel(cfg, add_pooling_layer=False)
    if name == "random-base":
        return BertModel(BertConfig(), add_pooling_layer=False)  # bert-base-uncased sizes
    try:
        return AutoModel.from_pretrained(name, add_pooling_layer=False).train()  # from_pretrained returns eval mode
    except OSError as err:
        raise PaperkitError(f"cannot load the text encoder {name!r} ({err}); {_HINT}") from None


def build_image_encoder(name: str, sizes: EncoderSizes) -> nn.Module:
    """A ``ViTModel`` without pooler, output ``last_hidden_state`` (B, 1 + (S/P)², H) after the final LayerNorm."""
    if name == "tiny":
        cfg = ViTConfig(
            image_size=sizes.image_size,
            patch_size=sizes.patch_size,
            hidden_size=sizes.image_hidden,
            num_hidden_layers=sizes.image_layers,
            num_attention_heads=sizes.image_heads,
            intermediate_size=4 * sizes.image_hidden,
        )
        return ViTModel(cfg, add_pooling_layer=False)
    if name == "random-base":
        return ViTModel(ViTConfig(image_size=224, patch_size=32), add_pooling_layer=False)  # ViT-B/32
    try:
        return ViTModel.from_pretrained(name, add_pooling_layer=False).train()
    except OSError as err:
        raise PaperkitError(f"cannot load the image encoder {name!r} ({err}); {_HINT}") from None
