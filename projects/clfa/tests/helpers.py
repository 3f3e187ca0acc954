"""Fixture writers in the official on-disk formats, tiny random models saved with save_pretrained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

WORDS = ["the", "a", "great", "day", "love", "rain", "monday", "sarcasm", "not", "best", "ever", "<user>", "<num>"]


def write_jpg(path: Path, seed: int, size: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)


def write_mmsd(root: Path, rows: dict[str, list[list]]) -> Path:
    """CLFA's MMSD release: {split}.txt with one Python-literal list per line, images in dataset_image/."""
    for split, items in rows.items():
        (root / f"{split}.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{split}.txt").write_text("\n".join(str(r) for r in items) + "\n")
        for r in items:
            write_jpg(root / "dataset_image" / f"{r[0]}.jpg", int(r[0]) % 1000)
    return root


def write_mmsd2(root: Path, rows: dict[str, list[dict]], with_images: bool = True) -> Path:
    """MMSD2.0: text_json_final/{split}.json lists of {image_id, text, label}; images in dataset_image/."""
    (root / "text_json_final").mkdir(parents=True, exist_ok=True)
    (root / "dataset_image").mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        (root / "text_json_final" / f"{split}.json").write_text(json.dumps(items))
        if with_images:
            for r in items:
                write_jpg(root / "dataset_image" / f"{r['image_id']}.jpg", int(r["image_id"]) % 1000)
    return root


def mmsd2_rows(n: int, offset: int = 0) -> list[dict]:
    rng = np.random.default_rng(offset)
    return [
        {"image_id": 700000 + offset + i, "text": " ".join(rng.choice(WORDS[:7], 5)), "label": int(i % 2)}
        for i in range(n)
    ]


def write_mvsa(root: Path, labels: dict[str, list[tuple[str, str]]]) -> Path:
    """MVSA: data/<id>.txt + data/<id>.jpg and labelResultAll.txt (header, then id<TAB>text,image[<TAB>...])."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    n_pairs = len(next(iter(labels.values())))
    header = "ID\t" + "\t".join(["text,image"] * n_pairs)
    lines = [header] + [f"{i}\t" + "\t".join(f"{t},{im}" for t, im in pairs) for i, pairs in labels.items()]
    (root / "labelResultAll.txt").write_text("\n".join(lines) + "\n")
    for i in labels:
        (root / "data" / f"{i}.txt").write_text(f"tweet number {i} #mvsa")
        write_jpg(root / "data" / f"{i}.jpg", int(i))
    return root


def save_tiny_bert_tokenizer(path: Path) -> Path:
    from transformers import BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "tweet", "number", "#", "mvsa", *"0123456789"]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    return path


def save_tiny_clip(path: Path, proj_dim: int = 8, image_size: int = 32) -> Path:
    """A tiny random HF CLIPModel + CLIPProcessor written with save_pretrained (what a hub download provides)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    path.mkdir(parents=True, exist_ok=True)
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789<>#")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    proc = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size=image_size), tokenizer=tok
    )
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 77, "eos_token_id": 1, "bos_token_id": 0,
                     "pad_token_id": 1},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": image_size, "patch_size": 16},
        projection_dim=proj_dim,
    )  # fmt: skip
    CLIPModel(cfg).save_pretrained(path)
    proc.save_pretrained(path)
    return path
