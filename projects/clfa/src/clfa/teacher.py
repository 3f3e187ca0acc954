"""Frozen CLIP teachers (paper Sec. 3.3; official ``generate_graph.py::process_clip``), computed once and cached.

A teacher is named by one string:

* ``hf:<hub id or folder>``: ``transformers.CLIPModel`` + ``CLIPProcessor`` (``hf:openai/clip-vit-base-patch32``),
  ``text_embeds`` of the lower-cased, stripped text (truncated to 77 tokens) and ``image_embeds`` of the RGB image;
* ``open_clip:<arch>/<pretrained>``: ``open_clip.create_model_and_transforms`` (``open_clip:ViT-B-32/openai``;
  ``<pretrained>`` may be a local checkpoint file);
* ``world``: the synthetic world's CLIP stand-in (:class:`clfa.synthetic.WorldCLIP`);
* ``none``: no teacher (only valid with alpha = 0).

Embeddings are computed once per (teacher, data) and stored in ``<cache_dir>/<tag>-<key>.pt``, where the key hashes
the teacher name and every example's id, text and image file size; a second run with the same data loads the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from clfa.datasets import Example

__all__ = ["cache_key", "compute_teacher", "teacher_embeddings"]

log = logging.getLogger(__name__)

ImageLoader = Callable[[Path], Image.Image]


def cache_key(teacher: str, examples: Sequence[Example]) -> str:
    """sha1 of the teacher name and (id, text, image size) of every example."""
    h = hashlib.sha1(teacher.encode())
    for e in examples:
        size = e.image.stat().st_size if e.image.is_file() else -1
        h.update(json.dumps([e.id, e.text, size]).encode())
    return h.hexdigest()[:20]


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
    raise ValueError(f"unknown teacher {teacher!r}; expected 'hf:<name>', 'open_clip:<arch>/<pretrained>' or 'world'")


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
    """Cached :func:`compute_teacher`: loads ``<cache_dir>/<tag>-<key>.pt`` when present, else computes and saves."""
    path = Path(cache_dir) / f"{tag}-{cache_key(teacher, examples)}.pt"
    if path.is_file():
        blob = torch.load(path, weights_only=True)
        log.info("Teacher embeddings (%s, %d examples) loaded from cache %s", teacher, len(examples), path)
        return blob["text"], blob["image"]
    log.info("Computing teacher embeddings (%s) for %d examples", teacher, len(examples))
    text, image = compute_teacher(
        teacher, examples, load_image, batch_size=batch_size, device=device, world_clip=world_clip
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"text": text, "image": image, "ids": [e.id for e in examples], "teacher": teacher}, tmp)
    tmp.replace(path)
    log.info("Teacher embeddings cached at %s", path)
    return text, image
