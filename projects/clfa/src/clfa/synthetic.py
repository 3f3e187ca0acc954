"""Embedded synthetic "sarcasm = the image contradicts the text" task (our construction, see the README),
written in the MMSD2.0 format.

A fixed *world* (seeded) holds K concepts; each has two synonym words, an 8×8 RGB prototype texture P_c and a
unit vector E_c in a small shared embedding space standing in for CLIP's joint text-image space.

Per sample: c_t ~ U(K); with prob. 0.5 the image concept c_i = c_t, else another concept; label = 1[c_i ≠ c_t].
Text = 12 filler words with a synonym of c_t at 2 random positions. Image = 32×32 N(0, 1) noise with 1.5·P_{c_i}
added in one random cell of the 4×4 grid, stored as a JPEG (pixel = 128 + 32·x, quality 95, no chroma subsampling).

The CLIP teacher of this world (:class:`WorldCLIP`) is a frozen, *perfect-recognition* stand-in for CLIP: it reads the
text file's words / the decoded JPEG, recognises the concept (word lookup / template matching of the prototypes) and
returns norm(E_c + 0.1·ε) with ε seeded by the content. Like real CLIP it is never trained and only used by the loss.
A randomly initialised tiny CLIP would carry no concept signal at all (its text and image spaces are not aligned),
so it could not play CLIP's role here; see the README.

Files (relative default root ``data/clfa/synthetic``)::

    text_json_final/{train,valid,test}.json   [{"image_id": int, "text": str, "label": 0|1}, ...]
    dataset_image/{image_id}.jpg
    vocab.txt                                  BERT WordPiece vocabulary of the world (for the tiny BERT)
    world.json                                 generator settings (regenerated when they change)
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["SyntheticSpec", "World", "WorldCLIP", "generate_synthetic", "world_vocab"]

log = logging.getLogger(__name__)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
N_FILLERS = 27  # spec: filler ids 3-29
TEXT_LEN = 12
GRID, CELL = 4, 8  # 4×4 grid of 8×8 cells -> 32×32 images
AMPLITUDE = 1.5
PIX_OFFSET, PIX_SCALE = 128.0, 32.0


@dataclass
class SyntheticSpec:
    """Generator settings: the world seed and the three split sizes / data seeds (train 2000, test 1000)."""

    n_concepts: int = 12
    embed_dim: int = 32
    world_seed: int = 0
    n_train: int = 2000
    n_valid: int = 500
    n_test: int = 1000
    seeds: tuple[int, int, int] = (1, 3, 2)  # train / valid / test data seeds
    teacher_noise: float = 0.1


def world_vocab(n_concepts: int) -> list[str]:
    """[PAD] [UNK] [CLS] [SEP] [MASK], fillers w00..w26, then two synonyms per concept (c00a, c00b, c01a, ...)."""
    fillers = [f"w{i:02d}" for i in range(N_FILLERS)]
    concepts = [f"c{k:02d}{s}" for k in range(n_concepts) for s in "ab"]
    return SPECIALS + fillers + concepts


class World:
    """The fixed concepts of the synthetic task: synonym words, prototype textures P_c and embeddings E_c."""

    def __init__(self, n_concepts: int = 12, embed_dim: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_concepts, self.embed_dim = n_concepts, embed_dim
        self.settings = {"n_concepts": n_concepts, "embed_dim": embed_dim, "seed": seed}  # what makes this world
        self.prototypes = rng.standard_normal((n_concepts, 3, CELL, CELL)).astype(np.float32)  # P_c
        e = rng.standard_normal((n_concepts, embed_dim)).astype(np.float32)
        self.embeddings = e / np.linalg.norm(e, axis=1, keepdims=True)  # E_c, unit vectors
        self.fillers = [f"w{i:02d}" for i in range(N_FILLERS)]
        self.synonyms = [[f"c{k:02d}a", f"c{k:02d}b"] for k in range(n_concepts)]
        self.word_concept = {w: k for k, pair in enumerate(self.synonyms) for w in pair}

    def sample(self, n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """n samples: texts, images (n, 32, 32, 3) uint8, labels, text concepts, image concepts."""
        rng = np.random.default_rng(seed)
        k = self.n_concepts
        c_t = rng.integers(0, k, n)
        same = rng.random(n) < 0.5
        c_i = np.where(same, c_t, (c_t + rng.integers(1, k, n)) % k)
        texts = []
        for i in range(n):
            words = [self.fillers[j] for j in rng.integers(0, N_FILLERS, TEXT_LEN)]
            for pos in rng.choice(TEXT_LEN, 2, replace=False):
                words[pos] = self.synonyms[c_t[i]][rng.integers(0, 2)]
            texts.append(" ".join(words))
        x = rng.standard_normal((n, 3, GRID * CELL, GRID * CELL)).astype(np.float32)
        cells = rng.integers(0, GRID * GRID, n)
        for i in range(n):
            r, c = divmod(int(cells[i]), GRID)
            x[i, :, r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] += AMPLITUDE * self.prototypes[c_i[i]]
        pix = np.clip(PIX_OFFSET + PIX_SCALE * x, 0, 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
        return texts, pix, (c_i != c_t).astype(np.int64), c_t, c_i


def _content_seed(data: bytes, salt: int) -> int:
    return zlib.crc32(data) ^ (salt * 0x9E3779B1 & 0xFFFFFFFF)


class WorldCLIP:
    """Frozen CLIP stand-in of the synthetic world: recognises the concept, returns norm(E_c + noise·ε)."""

    def __init__(self, world: World, noise: float = 0.1) -> None:
        self.world, self.noise = world, noise
        p = world.prototypes.reshape(world.n_concepts, -1)
        self._templates = p / np.linalg.norm(p, axis=1, keepdims=True)  # (K, 192)

    @property
    def dim(self) -> int:
        return self.world.embed_dim

    def _embed(self, concept: int, seed: int) -> np.ndarray:
        eps = np.random.default_rng(seed).standard_normal(self.world.embed_dim).astype(np.float32)
        v = self.world.embeddings[concept] + self.noise * eps if concept >= 0 else eps
        return v / np.linalg.norm(v)

    def text_concept(self, text: str) -> int:
        """Concept named by the text (majority of its synonym words), or -1 when none appears."""
        found = [self.world.word_concept[w] for w in text.lower().split() if w in self.world.word_concept]
        return int(np.bincount(found).argmax()) if found else -1

    def image_concepts(self, images: np.ndarray) -> np.ndarray:
        """Template matching: (N, S, S, 3) uint8 -> (N,) concept of the best-matching (cell, prototype) pair."""
        x = (images.astype(np.float32) - PIX_OFFSET) / PIX_SCALE  # (N, S, S, 3)
        n, s = x.shape[0], x.shape[1]
        g = s // CELL
        x = x[:, : g * CELL, : g * CELL].transpose(0, 3, 1, 2)  # (N, 3, S, S)
        cells = x.reshape(n, 3, g, CELL, g, CELL).transpose(0, 2, 4, 1, 3, 5).reshape(n, g * g, -1)  # (N, G², 192)
        score = cells @ self._templates.T  # (N, G², K)
        return score.max(1).argmax(-1)

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._embed(self.text_concept(t), _content_seed(t.encode(), 1)) for t in texts])

    def encode_image(self, images: np.ndarray) -> np.ndarray:
        concepts = self.image_concepts(images)
        return np.stack([self._embed(int(c), _content_seed(im.tobytes(), 2)) for c, im in zip(concepts, images)])


def generate_synthetic(root: str | Path, spec: SyntheticSpec | None = None) -> Path:
    """Write the synthetic dataset under ``root`` in the MMSD2.0 layout (skipped when already there, same spec)."""
    spec = spec or SyntheticSpec()
    root = Path(root)
    meta = {**asdict(spec), "seeds": list(spec.seeds), "format": 1}
    marker = root / "world.json"
    if marker.is_file() and json.loads(marker.read_text()) == meta:
        return root
    log.info("Generating the synthetic dataset under %s", root)
    world = World(spec.n_concepts, spec.embed_dim, spec.world_seed)
    (root / "text_json_final").mkdir(parents=True, exist_ok=True)
    (root / "dataset_image").mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(world_vocab(spec.n_concepts)) + "\n")
    sizes = {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}
    for s, (split, n) in enumerate(sizes.items()):
        texts, pix, labels, _, _ = world.sample(n, spec.seeds[s])
        rows = []
        for i in range(n):
            image_id = (s + 1) * 1_000_000 + i
            Image.fromarray(pix[i]).save(root / "dataset_image" / f"{image_id}.jpg", quality=95, subsampling=0)
            rows.append({"image_id": image_id, "text": texts[i], "label": int(labels[i])})
        (root / "text_json_final" / f"{split}.json").write_text(json.dumps(rows))
    marker.write_text(json.dumps(meta))
    return root
