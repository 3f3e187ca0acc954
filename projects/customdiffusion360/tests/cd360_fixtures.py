"""Fixture writers in the official formats: CO3Dv2 annotations, a user's cameras.json, a COLMAP text model.

The writers are independent of the library's synthetic generator: they draw a small coloured box with numpy on
non-square JPEG images and write the cameras in each format's own convention (CO3D: PyTorch3D row vectors with NDC
intrinsics; cameras.json and COLMAP: OpenCV column vectors with pixel intrinsics and quaternions).
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 30, 40  # non-square on purpose: the loaders pad to a square
FX = 36.0  # pixels


def _look_at_cv(eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera R, t of a camera at ``eye`` looking at the origin with world +z up."""
    z = -eye / np.linalg.norm(eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # image down
    R = np.stack([x, y, z])  # rows: camera axes in world
    return R, -R @ eye


def orbit_cv(n: int, radius: float = 3.0, elevation: float = 25.0) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i in range(n):
        a, e = 2 * math.pi * i / n, math.radians(elevation)
        eye = radius * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
        out.append(_look_at_cv(eye))
    return out


def draw(R: np.ndarray, t: np.ndarray, half: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A box of half-size ``half`` drawn as the convex hull of its projected corners (grey on white) + mask."""
    corners = np.array([[sx, sy, sz] for sx in (-half, half) for sy in (-half, half) for sz in (-half, half)])
    cam = corners @ R.T + t
    u = FX * cam[:, 0] / cam[:, 2] + W / 2
    v = FX * cam[:, 1] / cam[:, 2] + H / 2
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    inside = np.ones((H, W), bool)
    pts = np.stack([u, v], 1)
    hull = _hull(pts)
    for (x0, y0), (x1, y1) in zip(hull, np.roll(hull, -1, 0)):
        inside &= (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0) >= 0
    img = np.full((H, W, 3), 255, np.uint8)
    img[inside] = (200, 60, 40)
    return img, (inside * 255).astype(np.uint8)


def _hull(p: np.ndarray) -> np.ndarray:
    p = p[np.lexsort((p[:, 1], p[:, 0]))]

    def half(points: np.ndarray) -> list:
        out: list = []
        for q in points:
            while len(out) >= 2 and np.cross(out[-1] - out[-2], q - out[-2]) <= 0:
                out.pop()
            out.append(q)
        return out

    lower, upper = half(p), half(p[::-1])
    return np.array(lower[:-1] + upper[:-1])


def write_co3d(root: Path, n: int = 8, category: str = "toybox", sequence: str = "42_1_2") -> Path:
    """A CO3Dv2 category folder: frame/sequence annotations (.jgz), a set list, JPEG images and PNG masks."""
    frames, set_list = [], []
    s = min(H, W) / 2
    for i, (R, t) in enumerate(orbit_cv(n)):
        img, mask = draw(R, t)
        rel_img = f"{category}/{sequence}/images/frame{i + 1:06d}.jpg"
        rel_mask = f"{category}/{sequence}/masks/frame{i + 1:06d}.png"
        (root / rel_img).parent.mkdir(parents=True, exist_ok=True)
        (root / rel_mask).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel_img, quality=95)
        Image.fromarray(mask).save(root / rel_mask)
        flip = np.diag([-1.0, -1.0, 1.0])
        frames.append(
            {
                "sequence_name": sequence,
                "frame_number": i,
                "frame_timestamp": i / 30,
                "image": {"path": rel_img, "size": [H, W]},
                "depth": {"path": None, "scale_adjustment": 1.0, "mask_path": None},
                "mask": {"path": rel_mask, "mass": float((mask > 125).sum())},
                "viewpoint": {
                    "R": (flip @ R).T.tolist(),
                    "T": (flip @ t).tolist(),
                    "focal_length": [FX / s, FX / s],
                    "principal_point": [0.0, 0.0],
                    "intrinsics_format": "ndc_isotropic",
                },
                "meta": {"frame_type": "test_known", "frame_splits": ["fewview_dev"]},
                "camera_quality_score": 1.0,
            }
        )
        set_list.append([sequence, i, rel_img])
    cat = root / category
    with gzip.open(cat / "frame_annotations.jgz", "wt") as f:
        json.dump(frames, f)
    with gzip.open(cat / "sequence_annotations.jgz", "wt") as f:
        json.dump(
            [
                {
                    "sequence_name": sequence,
                    "category": category,
                    "video": {"path": "", "length": n},
                    "viewpoint_quality_score": 0.9,
                },
                {"sequence_name": "other", "category": category, "viewpoint_quality_score": 0.2},
            ],
            f,
        )
    (cat / "set_lists").mkdir()
    (cat / "set_lists" / "set_lists_fewview_dev.json").write_text(
        json.dumps({"train": set_list[::2], "val": set_list[1::2], "test": []})
    )
    return root


def write_custom(root: Path, n: int = 8, cameras: str = "json", masks: bool = True) -> Path:
    """A user's folder: images/*.jpg, masks/*.png and cameras.json (OpenCV, pixels) or sparse/0/*.txt (COLMAP)."""
    (root / "images").mkdir(parents=True)
    if masks:
        (root / "masks").mkdir()
    frames = []
    for i, (R, t) in enumerate(orbit_cv(n)):
        img, mask = draw(R, t)
        name = f"{i:04d}.jpg"
        Image.fromarray(img).save(root / "images" / name, quality=95)
        if masks:
            Image.fromarray(mask).save(root / "masks" / f"{i:04d}.png")
        frames.append(
            {"file": name, "R": R.tolist(), "T": t.tolist(), "focal": [FX, FX], "principal_point": [W / 2, H / 2]}
        )
    if cameras == "json":
        (root / "cameras.json").write_text(json.dumps({"frames": frames}))
    else:
        sparse = root / "sparse" / "0"
        sparse.mkdir(parents=True)
        (sparse / "cameras.txt").write_text(f"# Camera list\n1 PINHOLE {W} {H} {FX} {FX} {W / 2} {H / 2}\n")
        lines = ["# Image list with two lines of data per image:"]
        for i, f in enumerate(frames):
            q = _quat(np.array(f["R"]))
            lines.append(f"{i + 1} {' '.join(map(str, q))} {' '.join(map(str, f['T']))} 1 {f['file']}")
            lines.append("")
        (sparse / "images.txt").write_text("\n".join(lines) + "\n")
    return root


def _quat(R: np.ndarray) -> np.ndarray:
    w = math.sqrt(max(0.0, 1 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + R[0, 0] - R[1, 1] - R[2, 2])) / 2, R[2, 1] - R[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - R[0, 0] + R[1, 1] - R[2, 2])) / 2, R[0, 2] - R[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - R[0, 0] - R[1, 1] + R[2, 2])) / 2, R[1, 0] - R[0, 1])
    return np.array([w, x, y, z])


def fast_cli_args(data: Path, base: Path) -> list[str]:
    """CLI arguments for seconds-long runs: a 3-step pre-trained base in ``base``, few eval draws and DDIM steps."""
    return [
        f"--data.root={data}",
        f"--model.base_cache={base}",
        "--model.base_pretrain_steps=3",
        "--model.base_pretrain_batch=2",
        "--data.eval_batch_size=2",
        "--data.batch_size=2",
        "--model.eval_draws=1",
        "--model.sample_steps=2",
        "--data.generic_images=16",
        "--trainer.limit_val_batches=0.25",
        "--trainer.limit_test_batches=0.25",
    ]
