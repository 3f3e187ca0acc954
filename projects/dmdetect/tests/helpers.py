"""Fixtures written in the official formats: image folders, ELSA D3 parquet shards (image struct {bytes, path}),
and a tiny open_clip model saved with torch.save to a checkpoint file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (40, 32), fake: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    if fake:  # smooth images: a visible difference for the tiny CLIP
        x = np.repeat(np.repeat(x[::8, ::8], 8, 0), 8, 1)[: size[1], : size[0]]
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format=fmt)
    return buf.getvalue()


def write_folder(root: Path, n_real: int = 6, gens: dict[str, int] | None = None, captions: bool = True,
                 broken: bool = False) -> Path:  # fmt: skip
    """``real/*.jpg|png``, ``fake/<gen>/*.png``, ``captions.csv`` (for all but the last image) and optionally an
    undecodable ``real/broken.jpg``."""
    gens = gens or {"sdxl": 4, "if": 4}
    rows = []
    (root / "real" / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n_real):
        rel = f"real/sub/r{i}.jpg" if i % 2 else f"real/r{i}.png"
        (root / rel).write_bytes(image_bytes(i, "JPEG" if i % 2 else "PNG"))
        rows.append((rel, f"a photo number {i}"))
    for g, n in gens.items():
        (root / "fake" / g).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rel = f"fake/{g}/f{i}.png"
            (root / rel).write_bytes(image_bytes(1000 + 50 * len(g) + i, fake=True))
            rows.append((rel, f"a rendering number {i}"))
    if broken:
        (root / "real" / "broken.jpg").write_bytes(b"\x00not an image" * 10)
    if captions:
        lines = ["path,caption", *(f"{p},{c}" for p, c in rows[:-1])]
        (root / "captions.csv").write_text("\n".join(lines) + "\n")
    return root


def elsa_rows(n: int, start: int = 0, urls: list[str] | None = None) -> list[dict]:
    rows = []
    for r in range(start, start + n):
        row = {"id": f"{r:06d}", "original_prompt": f"laion caption {r}", "positive_prompt": f"prompt {r}",
               "negative_prompt": "", "url": (urls[r - start] if urls else f"http://127.0.0.1:9/{r}.jpg")}  # fmt: skip
        for k in range(4):
            row[f"model_gen{k}"] = ["stable-diffusion-1-4", "stable-diffusion-2-1", "stable-diffusion-xl", "IF"][k]
            row[f"width_gen{k}"] = 40
            row[f"height_gen{k}"] = 32
            row[f"num_inference_steps_gen{k}"] = 50
            row[f"filepath_gen{k}"] = f"gen{k}/{r}.png"
            row[f"image_gen{k}"] = {"bytes": image_bytes(10 * r + k, fake=True), "path": f"{r}_{k}.png"}
        rows.append(row)
    return rows


def write_elsa(root: Path, split_rows: dict[str, list[dict]], reals: bool = True, drop: str | None = None) -> Path:
    """``data/<split>-00000-of-00001.parquet`` as released (HF Image struct columns), and ``reals/<id>.jpg``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "data").mkdir(parents=True, exist_ok=True)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for split, rows in split_rows.items():
        cols = {k: [r[k] for r in rows] for k in rows[0] if k != drop}
        arrays = [pa.array(v, type=image_type) if k.startswith("image_gen") else pa.array(v) for k, v in cols.items()]
        pq.write_table(
            pa.Table.from_arrays(arrays, names=list(cols)), root / "data" / f"{split}-00000-of-00001.parquet"
        )
        if reals:
            (root / "reals").mkdir(exist_ok=True)
            for r in rows:
                (root / "reals" / f"{r['id']}.jpg").write_bytes(image_bytes(int(r["id"]) + 7, "JPEG"))
    return root


TINY_CFG = {"embed_dim": 8,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16, "head_width": 8},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}  # fmt: skip


def save_tiny_open_clip(folder: Path, name: str = "dmdetect-test-clip", seed: int = 0):
    """A tiny open_clip architecture registered from a JSON config, its random weights saved with torch.save;
    returns (name, checkpoint path, model)."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / f"{name}.json")
    torch.manual_seed(seed)
    model = open_clip.create_model(name).eval()
    torch.save(model.state_dict(), folder / "weights.pt")
    return name, folder / "weights.pt", model
