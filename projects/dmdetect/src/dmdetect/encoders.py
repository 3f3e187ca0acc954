"""Frozen CLIP image and text encoders by name through open_clip (paper Sec. 3: OpenAI CLIP ViT-L/14, 768-d each),
run once per dataset, features cached on disk with :func:`paperkit.featcache.cached_tensors`.

``clip_model`` is an open_clip architecture (``ViT-L-14``) and ``clip_pretrained`` an open_clip tag (``openai``) or a
local checkpoint file; ``clip_pretrained=None`` builds the architecture with seeded random weights (only useful for
tests and smoke runs: ``dmdetect-tiny-clip``, a 2-layer 32-d CLIP shipped with the package, is the default). Images go
through open_clip's own preprocessing (resize + centre crop + CLIP mean/std), captions through its tokenizer (77
tokens; the official code cut prompts to 77 characters). Features are not normalised (as in the official extractor).

The cache key covers the model name, the weights (the tag, or the bytes of a checkpoint file), the preprocessing
(the architecture config and transform) and the data (every item's id, caption and image bytes digest).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from paperkit.featcache import cached_tensors, file_digest

__all__ = ["TINY_CLIP", "ClipEncoder", "Item", "clip_fingerprint", "embed_dim", "encode_items", "register_tiny_clip"]

log = logging.getLogger(__name__)

TINY_CLIP = "dmdetect-tiny-clip"


@dataclass
class Item:
    """One image to encode: ``image`` is a file path or the encoded bytes (ELSA D3 stores generated images as bytes)."""

    id: str
    image: Path | bytes
    caption: str
    label: int  # 1 = generated, 0 = real, -1 = unknown (predict)
    generator: str  # "" for reals

    def digest(self) -> str:
        if isinstance(self.image, bytes):
            import hashlib

            return hashlib.sha1(self.image).hexdigest()
        return file_digest(self.image)


def register_tiny_clip() -> None:
    import open_clip

    if open_clip.get_model_config(TINY_CLIP) is None:
        open_clip.add_model_config(Path(str(files("dmdetect") / f"{TINY_CLIP}.json")))


def embed_dim(clip_model: str) -> int:
    """Width of the model's image/text embeddings, read from its config (no weights loaded)."""
    import open_clip

    register_tiny_clip()
    cfg = open_clip.get_model_config(clip_model)
    if cfg is None:
        from paperkit.errors import PaperkitError

        raise PaperkitError(
            f"unknown open_clip architecture '{clip_model}' (see open_clip.list_models(); the paper uses ViT-L-14)."
        )
    return int(cfg["embed_dim"])


def clip_fingerprint(clip_model: str, clip_pretrained: str | None) -> dict[str, Any]:
    import open_clip

    register_tiny_clip()
    if clip_pretrained and Path(clip_pretrained).is_file():
        weights = file_digest(clip_pretrained)
    else:
        weights = clip_pretrained or "random-seed0"
    return {"model": clip_model, "weights": weights, "config": open_clip.get_model_config(clip_model),
            "text": "open_clip tokenizer, 77 tokens"}  # fmt: skip


class ClipEncoder:
    """A frozen open_clip model with its preprocessing and tokenizer."""

    def __init__(self, clip_model: str, clip_pretrained: str | None, device: str = "cpu") -> None:
        import open_clip

        register_tiny_clip()
        if clip_pretrained is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model, _, preprocess = open_clip.create_model_and_transforms(clip_model, pretrained=None)
        else:
            model, _, preprocess = open_clip.create_model_and_transforms(clip_model, pretrained=clip_pretrained)
        self.model = model.to(device).eval().requires_grad_(False)
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(clip_model)
        self.device = device

    @torch.no_grad()
    def encode(self, images: Sequence[Image.Image], captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(image (B, D), text (B, D)) float32 on the CPU."""
        pix = torch.stack([self.preprocess(im) for im in images]).to(self.device)
        img = self.model.encode_image(pix).float().cpu()
        txt = self.model.encode_text(self.tokenizer(list(captions)).to(self.device)).float().cpu()
        return img, txt


def encode_items(
    items: Sequence[Item],
    load: Callable[[Item], Image.Image | None],
    clip_model: str,
    clip_pretrained: str | None,
    cache_dir: str | Path,
    tag: str,
    *,
    batch_size: int = 32,
    device: str = "cpu",
    extra_key: dict[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """Cached CLIP features of ``items``: ``image (N, D)``, ``text (N, D)`` and ``ok (N,)`` (False where ``load``
    returned None: an undecodable image, whose features are zeros and which the caller drops)."""
    key = {
        **clip_fingerprint(clip_model, clip_pretrained),
        **(extra_key or {}),
        "data": [[it.id, it.caption, it.digest()] for it in items],
    }

    def compute() -> dict[str, torch.Tensor]:
        log.info("Encoding %d images with %s/%s", len(items), clip_model, clip_pretrained)
        enc = ClipEncoder(clip_model, clip_pretrained, device)
        d = embed_dim(clip_model)
        image = torch.zeros(len(items), d)
        text = torch.zeros(len(items), d)
        ok = torch.zeros(len(items), dtype=torch.bool)
        for start in range(0, len(items), batch_size):
            chunk = list(range(start, min(len(items), start + batch_size)))
            loaded = [(i, load(items[i])) for i in chunk]
            good = [(i, im) for i, im in loaded if im is not None]
            if not good:
                continue
            idx = torch.tensor([i for i, _ in good])
            img, txt = enc.encode([im for _, im in good], [items[i].caption for i, _ in good])
            image[idx], text[idx], ok[idx] = img, txt, True
        return {"image": image, "text": text, "ok": ok}

    return cached_tensors(cache_dir, tag, key, compute)
