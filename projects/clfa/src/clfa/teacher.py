"""Frozen CLIP teachers (paper Sec. 3.3; official ``generate_graph.py::process_clip``), computed once and cached.

A teacher is named by one string:

* ``hf:<hub id or folder>``: ``transformers.CLIPModel`` + ``CLIPProcessor`` (``hf:openai/clip-vit-base-patch32``),
  ``text_embeds`` of the lower-cased, stripped text (truncated to 77 tokens) and ``image_embeds`` of the RGB image;
* ``open_clip:<arch>/<pretrained>``: ``open_clip.create_model_and_transforms`` (``open_clip:ViT-B-32/openai``;
  ``<pretrained>`` may be a local checkpoint file);
* ``world``: the synthetic world's CLIP stand-in (:class:`clfa.synthetic.WorldCLIP`);
* ``none``: no teacher (only valid with alpha = 0).

Embeddings are computed once per (teacher, data) and stored in ``<cache_dir>/<tag>-<key>.pt``
(:func:`paperkit.featcache.cached_tensors`). The key covers the teacher name, the model's revision (the hub commit of a
hub model; the bytes of the config and weight files of a local folder or checkpoint), the preprocessing (the processor
or transform configuration, the text normalisation) and every example's id, text and image *bytes*: a changed image,
model or processor never reuses stale embeddings. A second run with the same data loads the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from clfa.datasets import Example
from paperkit.featcache import cached_tensors, file_digest, folder_digest

__all__ = ["cache_key", "compute_teacher", "teacher_embeddings", "teacher_fingerprint"]

log = logging.getLogger(__name__)

ImageLoader = Callable[[Path], Image.Image]


TEACHER_FORMS = "'hf:<name>', 'open_clip:<arch>/<pretrained>' or 'world'"
TEXT_NORMALISATION = "lower+strip, truncated to 77 tokens"  # official process_clip


def _hf_fingerprint(name: str) -> dict[str, Any]:
    """Revision and preprocessing of an HF CLIP teacher, read from its config and processor (no weights loaded)."""
    from transformers import CLIPConfig, CLIPProcessor

    config = CLIPConfig.from_pretrained(name)
    proc = CLIPProcessor.from_pretrained(name)
    folder = Path(name)
    revision = (
        folder_digest(folder, ("*.json", "*.safetensors", "*.bin", "*.txt", "*.model"))
        if folder.is_dir()
        else getattr(config, "_commit_hash", None) or "unknown"
    )
    tok = proc.tokenizer
    preprocess = {
        "image_processor": proc.image_processor.to_dict(),
        "tokenizer": {"class": type(tok).__name__, "vocab_size": tok.vocab_size, "max_length": tok.model_max_length},
    }
    return {"revision": revision, "preprocess": preprocess}


def _open_clip_fingerprint(name: str) -> dict[str, Any]:
    import open_clip

    arch, _, pretrained = name.partition("/")
    revision = file_digest(pretrained) if pretrained and Path(pretrained).is_file() else pretrained
    return {"revision": revision, "preprocess": {"config": open_clip.get_model_config(arch)}}


def teacher_fingerprint(teacher: str, world_clip: object | None = None) -> dict[str, Any]:
    """Everything about a teacher that changes its embeddings, apart from the data (for the cache key)."""
    kind, _, name = teacher.partition(":")
    if kind == "hf":
        out = _hf_fingerprint(name)
    elif kind == "open_clip":
        out = _open_clip_fingerprint(name)
    elif kind == "world":
        world = getattr(world_clip, "world", None)
        out = {"revision": getattr(world, "settings", repr(world)), "preprocess": getattr(world_clip, "noise", None)}
    else:
        raise ValueError(
            f"unknown teacher {teacher!r}; expected 'hf:<name>', 'open_clip:<arch>/<pretrained>' or 'world'"
        )
    return {"teacher": teacher, "text": TEXT_NORMALISATION, **out}


def cache_key(teacher: str, examples: Sequence[Example], fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The teacher cache key: the teacher's fingerprint and (id, text, sha1 of the image bytes) of every example."""
    fp = fingerprint if fingerprint is not None else {"teacher": teacher}
    return {**fp, "data": [[e.id, e.text, file_digest(e.image)] for e in examples]}


def _batches(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


@torch.no_grad()
def _hf_clip(name: str, examples: Sequence[Example], load_image: ImageLoader, batch_size: int, device: str):
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(name).to(device).eval()
    proc = CLIPProcessor.from_pretrained(name)
    max_len = min(77, model.config.text_config.max_position_embeddings)
    texts, images = [], []
    for sl in _batches(len(examples), batch_size):
        chunk = examples[sl]
        tok = proc.tokenizer(
            [e.text.lower().strip() for e in chunk],
            padding=True,
            truncation=True,
            max_length=max_len,
            return_tensors="pt",
        ).to(device)
        texts.append(model.get_text_features(**tok).float().cpu())
        pix = proc.image_processor([load_image(e.image) for e in chunk], return_tensors="pt")["pixel_values"]
        images.append(model.get_image_features(pixel_values=pix.to(device)).float().cpu())
    return torch.cat(texts), torch.cat(images)


@torch.no_grad()
def _open_clip(name: str, examples: Sequence[Example], load_image: ImageLoader, batch_size: int, device: str):
    import open_clip

    arch, _, pretrained = name.partition("/")
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained or None)
    model = model.to(device).eval()
    tokenizer = open_clip.get_tokenizer(arch)
    texts, images = [], []
    for sl in _batches(len(examples), batch_size):
        chunk = examples[sl]
        texts.append(model.encode_text(tokenizer([e.text.lower().strip() for e in chunk]).to(device)).float().cpu())
        pix = torch.stack([preprocess(load_image(e.image)) for e in chunk]).to(device)
        images.append(model.encode_image(pix).float().cpu())
    return torch.cat(texts), torch.cat(images)


def _world(world_clip, examples: Sequence[Example], load_image: ImageLoader):
    text = world_clip.encode_text([e.text for e in examples])
    image = world_clip.encode_image(np.stack([np.asarray(load_image(e.image)) for e in examples]))
    return torch.from_numpy(text), torch.from_numpy(image)


def compute_teacher(
    teacher: str,
    examples: Sequence[Example],
    load_image: ImageLoader,
    *,
    batch_size: int = 64,
    device: str = "cpu",
    world_clip: object | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the frozen teacher over all examples -> (text (N, D), image (N, D)) float32, not normalised."""
    kind, _, name = teacher.partition(":")
    if kind == "hf":
        return _hf_clip(name, examples, load_image, batch_size, device)
    if kind == "open_clip":
        return _open_clip(name, examples, load_image, batch_size, device)
    if kind == "world":
        if world_clip is None:
            raise ValueError("teacher 'world' is only available for the synthetic dataset")
        return _world(world_clip, examples, load_image)
    raise ValueError(f"unknown teacher {teacher!r}; expected {TEACHER_FORMS}")


def teacher_embeddings(
    teacher: str,
    examples: Sequence[Example],
    load_image: ImageLoader,
    cache_dir: str | Path,
    tag: str,
    *,
    batch_size: int = 64,
    device: str = "cpu",
    world_clip: object | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached :func:`compute_teacher`: ``(text (N, D), image (N, D))``, computed only when the key is new."""
    key = cache_key(teacher, examples, teacher_fingerprint(teacher, world_clip))

    def compute() -> dict[str, torch.Tensor]:
        log.info("Computing teacher embeddings (%s) for %d examples", teacher, len(examples))
        text, image = compute_teacher(
            teacher, examples, load_image, batch_size=batch_size, device=device, world_clip=world_clip
        )
        return {"text": text, "image": image}

    out = cached_tensors(cache_dir, tag, key, compute)
    return out["text"], out["image"]
