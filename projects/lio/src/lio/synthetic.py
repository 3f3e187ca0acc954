"""Embedded synthetic fine-grained set: the class is the *arrangement* of parts around a body, not the parts.

Every object is a body disc with four parts (triangle, square, circle, bar; the same four shapes and colours in every
class) on 4 of 8 angular slots around it. A class is one assignment of parts to slots; the classes are chosen so that no
class is a rotation or a mirror image of another (orbits of the dihedral group of the 8 slots), so that global rotation
(±40°) and the clutter do not make two classes identical. Distractor parts of the same shapes lie in the textured
background, so a bag of parts carries no class information: only the parts' positions *relative to the body* do, the
structure that LIO's object-extent and spatial-context heads model. Horizontal flips would change the class: the data
module turns them off for this set. The ground-truth object mask (body + its parts) and the body centre are kept for the
OEL mask IoU and the SCL distance correlation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["SyntheticParts", "class_arrangements", "generate", "render"]

N_SLOTS = 8
PART_COLOURS = [(220, 60, 50), (60, 180, 70), (60, 90, 220), (200, 70, 200)]  # triangle, square, circle, bar
BODY_COLOUR = (230, 200, 60)
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SyntheticParts:
    """Generator settings (frozen after calibration; README "Synthetic data")."""

    n_classes: int = 10
    train_per_class: int = 60
    test_per_class: int = 50
    image_size: int = 64
    body_radius: float = 9.0
    slot_radius: float = 1.6  # slot distance in body radii
    part_radius: float = 4.5
    scale: tuple[float, float] = (0.8, 1.2)
    rotation_deg: float = 40.0
    distractors: tuple[int, int] = (2, 5)
    seed: int = 0


def _canonical(assign: tuple[int, ...]) -> tuple[int, ...]:
    """Smallest slot vector over the 16 rotations/reflections of the 8 slots (slot -> part index or -1)."""
    out = []
    for flip in (False, True):
        base = assign[::-1] if flip else assign
        for r in range(N_SLOTS):
            out.append(tuple(base[r:] + base[:r]))
    return min(out)


def class_arrangements(n_classes: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``n_classes`` slot vectors (length 8, part index 0-3 or -1), pairwise in different dihedral orbits."""
    rng = np.random.default_rng(seed + 7919)
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < n_classes:
        slots = rng.choice(N_SLOTS, size=4, replace=False)
        v = [-1] * N_SLOTS
        for part, s in enumerate(slots):
            v[int(s)] = part
        t = tuple(v)
        canon = _canonical(t)
        if canon in seen:
            continue
        seen.add(canon)
        chosen.append(t)
    return chosen


def _shape(kind: int, cx: float, cy: float, r: float, angle: float) -> tuple[str, list[tuple[float, float]]]:
    """A part as ('polygon', points) or ('ellipse', bbox), rotated by ``angle`` (radians) about its centre."""
    if kind == 2:  # circle
        return "ellipse", [(cx - r, cy - r), (cx + r, cy + r)]
    if kind == 0:  # triangle
        pts = [(r * math.cos(a), r * math.sin(a)) for a in (angle, angle + 2.0944, angle + 4.1888)]
    elif kind == 1:  # square
        pts = [
            (r * 0.85 * math.cos(a), r * 0.85 * math.sin(a))
            for a in (angle + k * math.pi / 2 + 0.785 for k in range(4))
        ]
    else:  # bar: a long thin rectangle along the angle
        ca, sa = math.cos(angle), math.sin(angle)
        lx, ly, wx, wy = 1.3 * r * ca, 1.3 * r * sa, -0.45 * r * sa, 0.45 * r * ca
        pts = [(lx + wx, ly + wy), (lx - wx, ly - wy), (-lx - wx, -ly - wy), (-lx + wx, -ly + wy)]
    return "polygon", [(cx + x, cy + y) for x, y in pts]


def _draw(draw: ImageDraw.ImageDraw, shape: tuple[str, list], fill: tuple | int) -> None:
    kind, pts = shape
    if kind == "ellipse":
        draw.ellipse(pts, fill=fill)
    else:
        draw.polygon(pts, fill=fill)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Textured clutter: smooth coloured noise + random strokes. (S, S, 3) uint8."""
    low = rng.uniform(40, 150, size=(6, 6, 3)).astype(np.float32)
    img = np.asarray(Image.fromarray(low.astype(np.uint8)).resize((size, size), Image.BILINEAR), dtype=np.float32)
    img = img + rng.normal(0, 18, size=(size, size, 3))
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(4, 9))):
        x0, y0 = rng.uniform(0, size, 2)
        x1, y1 = x0 + rng.normal(0, 12), y0 + rng.normal(0, 12)
        d.line([(x0, y0), (x1, y1)], fill=tuple(int(v) for v in rng.uniform(30, 170, 3)), width=int(rng.integers(1, 3)))
    return np.asarray(pil)


def render(
    cfg: SyntheticParts, arrangement: tuple[int, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """One image (S, S, 3) uint8, its object mask (S, S) uint8 {0, 1} and the body centre (row, col) in pixels."""
    s = cfg.image_size
    scale = rng.uniform(*cfg.scale)
    rot = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    r_body, r_part = cfg.body_radius * scale, cfg.part_radius * scale
    extent = cfg.slot_radius * r_body + 1.3 * r_part + 1
    cx, cy = rng.uniform(extent, s - extent, 2)
    img = Image.fromarray(_background(rng, s))
    mask = Image.new("L", (s, s), 0)
    d, dm = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    # distractor parts in the background, away from the object
    n_distract = int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))
    placed = 0
    for _ in range(50):
        if placed == n_distract:
            break
        px, py = rng.uniform(r_part, s - r_part, 2)
        if math.hypot(px - cx, py - cy) < extent + r_part:
            continue
        kind = int(rng.integers(0, 4))
        _draw(d, _shape(kind, px, py, r_part, rng.uniform(0, 2 * math.pi)), PART_COLOURS[kind])
        placed += 1
    body = ("ellipse", [(cx - r_body, cy - r_body), (cx + r_body, cy + r_body)])
    _draw(d, body, BODY_COLOUR)
    _draw(dm, body, 1)
    for slot, kind in enumerate(arrangement):
        if kind < 0:
            continue
        a = rot + 2 * math.pi * slot / N_SLOTS
        px, py = cx + cfg.slot_radius * r_body * math.cos(a), cy + cfg.slot_radius * r_body * math.sin(a)
        shape = _shape(kind, px, py, r_part, a)
        _draw(d, shape, PART_COLOURS[kind])
        _draw(dm, shape, 1)
    return np.asarray(img, dtype=np.uint8), np.asarray(mask, dtype=np.uint8), (float(cy), float(cx))


def generate(cfg: SyntheticParts, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A whole split: images (N, S, S, 3) uint8, labels (N,), masks (N, S, S) uint8, centres (N, 2) (row, col) px."""
    per_class = cfg.train_per_class if split == "train" else cfg.test_per_class
    arrangements = class_arrangements(cfg.n_classes, cfg.seed)
    split_id = {"train": 0, "test": 1}[split]
    images, labels, masks, centres = [], [], [], []
    for k, arr in enumerate(arrangements):
        for i in range(per_class):
            rng = np.random.default_rng([cfg.seed, split_id, k, i, GENERATOR_VERSION])
            im, m, c = render(cfg, arr, rng)
            images.append(im), labels.append(k), masks.append(m), centres.append(c)
    return np.stack(images), np.asarray(labels, dtype=np.int64), np.stack(masks), np.asarray(centres, np.float32)
