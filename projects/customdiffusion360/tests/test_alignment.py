"""CLIP text alignment and DINO image alignment through transformers, on tiny random models saved with
``save_pretrained`` and loaded through the same ``from_pretrained`` path as the hub names."""

from __future__ import annotations

from pathlib import Path

import torch

from customdiffusion360.alignment import Alignment
from customdiffusion360.base import build_clip_tokenizer
from customdiffusion360.datasets.synthetic import VOCAB


def _save_tiny(folder: Path) -> tuple[Path, Path]:
    from transformers import (
        BitImageProcessor,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        Dinov2Config,
        Dinov2Model,
    )

    torch.manual_seed(0)
    tok = build_clip_tokenizer(folder / "tok", VOCAB, max_length=16)
    cfg = CLIPConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=8,
    )
    CLIPModel(cfg).save_pretrained(folder / "clip")
    proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=proc, tokenizer=tok).save_pretrained(folder / "clip")
    Dinov2Model(
        Dinov2Config(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
        )
    ).save_pretrained(folder / "dino")
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder / "dino"
    )
    return folder / "clip", folder / "dino"


def test_alignment_scores_load_from_saved_models(tmp_path: Path) -> None:
    clip, dino = _save_tiny(tmp_path)
    al = Alignment(str(clip), str(dino))
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)
    t = al.clip_text(a, ["photo of a red cube", "photo of a cube", "photo of a blue sphere"])
    assert t.shape == (3,) and (t.abs() <= 1 + 1e-6).all()
    same = al.dino_image(a, a)
    torch.testing.assert_close(same, torch.ones(3), atol=1e-5, rtol=0)
    assert (al.dino_image(a, b) < 1 - 1e-4).all()
