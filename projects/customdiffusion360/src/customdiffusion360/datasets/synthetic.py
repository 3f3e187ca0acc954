"""The embedded default's data: a coloured cube rendered analytically at known orbit cameras, written in the CO3D
layout (read back through the real loader), and a generic set of uniformly coloured cubes and spheres with
captions (pre-trains the tiny base; the regularisation images).

Why it exercises the method: the six faces have six colours, so which colours a view shows, and where, depends on
the camera. A model that ignores the camera can at best produce an average cube; with the pose blocks the
reference views, projected through the target camera, say which face is where. The generic set has only
single-colour objects, so the base model cannot know the concept's face layout.

Frozen after one calibration (README, "Synthetic data"): 32 orbit cameras (elevation 20°, radius 2.5, 40° fov,
look-at origin), unit cube, 32 x 32 images (rendered at 4 x 4 supersampling), white background.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import torch
from PIL import Image

from customdiffusion360.cameras import look_at, rays_from_camera
from customdiffusion360.datasets.common import fov_to_focal

__all__ = [
    "FACE_COLORS",
    "GENERIC_COLORS",
    "orbit_cameras",
    "render_cube",
    "render_sphere",
    "write_co3d_cube",
    "write_generic",
]

# +x, -x, +y, -y, +z (top), -z (bottom)
FACE_COLORS = torch.tensor(
    [[0.9, 0.1, 0.1], [0.1, 0.8, 0.8], [0.1, 0.75, 0.1], [0.8, 0.1, 0.8], [0.95, 0.85, 0.1], [0.1, 0.2, 0.9]]
)
GENERIC_COLORS = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.75, 0.1),
    "blue": (0.1, 0.2, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "cyan": (0.1, 0.8, 0.8),
    "magenta": (0.8, 0.1, 0.8),
    "orange": (0.95, 0.5, 0.1),
    "gray": (0.5, 0.5, 0.5),
}
VOCAB = ["photo", "of", "a", "cube", "sphere", *GENERIC_COLORS]


def orbit_cameras(n: int, elevation: float = 20.0, radius: float = 2.5, offset: float = 0.0) -> tuple:
    """n cameras evenly spaced in azimuth (degrees from +x, counter-clockwise about +z), looking at the origin."""
    az = torch.deg2rad(torch.arange(n, dtype=torch.float64) * 360.0 / n + offset)
    el = torch.full_like(az, math.radians(elevation))
    return cameras_at(az, el, torch.full_like(az, radius))


def cameras_at(az: torch.Tensor, el: torch.Tensor, radius: torch.Tensor) -> tuple:
    eye = radius[:, None] * torch.stack([el.cos() * az.cos(), el.cos() * az.sin(), el.sin()], -1)
    R, T = look_at(eye)
    return R.float(), T.float()


def _rays(R: torch.Tensor, T: torch.Tensor, focal: float, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    f = torch.full((R.shape[0], 2), focal, dtype=R.dtype)
    return rays_from_camera(R, T, f, torch.zeros_like(f), size, size)  # (V, P, 3) each


def render_cube(
    R: torch.Tensor,
    T: torch.Tensor,
    focal: float,
    size: int,
    half: float = 0.5,
    ss: int = 4,
    colors: torch.Tensor | None = None,
):
    """Slab-test ray casting of the cube [-half, half]^3: RGB (V, 3, S, S) on white, mask (V, 1, S, S), face ids
    (V, S, S) at the centre sample (-1 = background)."""
    o, d = _rays(R.double(), T.double(), focal, size * ss)
    inv = 1.0 / torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t0, t1 = (-half - o) * inv, (half - o) * inv
    tmin = torch.minimum(t0, t1).amax(-1)
    tmax = torch.maximum(t0, t1).amin(-1)
    hit = (tmax >= tmin) & (tmax > 0)  # (V, P)
    p = o + tmin.clamp_min(0).unsqueeze(-1) * d  # entry point
    axis = p.abs().argmax(-1)  # (V, P)
    sign = torch.gather(p, -1, axis.unsqueeze(-1)).squeeze(-1) < 0
    face = torch.where(hit, 2 * axis + sign.long(), torch.full_like(axis, -1))
    return _compose(face, FACE_COLORS if colors is None else colors, size, ss)


def render_sphere(
    R: torch.Tensor, T: torch.Tensor, focal: float, size: int, color: tuple, radius: float = 0.6, ss: int = 4
):
    o, d = _rays(R.double(), T.double(), focal, size * ss)
    b = (o * d).sum(-1)
    c = (o * o).sum(-1) - radius**2
    hit = (b * b - c) >= 0
    face = torch.where(hit, torch.zeros_like(b, dtype=torch.long), torch.full_like(b, -1, dtype=torch.long))
    return _compose(face, torch.tensor([color]), size, ss)


def _compose(face: torch.Tensor, colors: torch.Tensor, size: int, ss: int):
    v = face.shape[0]
    col = torch.ones(v, face.shape[1], 3)
    fg = face >= 0
    col[fg] = colors.float()[face[fg]]
    col = col.reshape(v, size * ss, size * ss, 3).permute(0, 3, 1, 2)
    rgb = torch.nn.functional.avg_pool2d(col, ss)  # (V, 3, S, S)
    mask = torch.nn.functional.avg_pool2d(fg.float().reshape(v, 1, size * ss, size * ss), ss)
    centre = face.reshape(v, size * ss, size * ss)[:, ss // 2 :: ss, ss // 2 :: ss]
    return rgb, (mask > 0.5).float(), centre


def _png(path: Path, chw: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (chw.clamp(0, 1) * 255).round().byte()
    if arr.shape[0] == 1:
        Image.fromarray(arr[0].numpy(), mode="L").save(path)
    else:
        Image.fromarray(arr.permute(1, 2, 0).numpy()).save(path)


def _jgz(path: Path, obj: object) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(obj, f)


def write_co3d_cube(
    root: Path,
    n_views: int = 32,
    size: int = 32,
    elevation: float = 20.0,
    radius: float = 2.5,
    fov: float = 40.0,
    category: str = "cube",
    sequence: str = "cube_000",
) -> None:
    """The cube's orbit in the CO3Dv2 layout under ``root`` (paths relative to ``root``, NDC-isotropic cameras)."""
    R, T = orbit_cameras(n_views, elevation, radius)
    focal = fov_to_focal(fov)
    rgb, mask, _ = render_cube(R, T, focal, size)
    cat = root / category
    frames, set_list = [], []
    for i in range(n_views):
        img_rel = f"{category}/{sequence}/images/frame{i + 1:06d}.png"
        mask_rel = f"{category}/{sequence}/masks/frame{i + 1:06d}.png"
        _png(root / img_rel, rgb[i])
        _png(root / mask_rel, mask[i])
        frames.append(
            {
                "sequence_name": sequence,
                "frame_number": i,
                "frame_timestamp": float(i),
                "image": {"path": img_rel, "size": [size, size]},
                "mask": {"path": mask_rel, "mass": float(mask[i].sum())},
                "viewpoint": {
                    "R": R[i].tolist(),
                    "T": T[i].tolist(),
                    "focal_length": [focal, focal],
                    "principal_point": [0.0, 0.0],
                    "intrinsics_format": "ndc_isotropic",
                },
            }
        )
        set_list.append([sequence, i, img_rel])
    _jgz(cat / "frame_annotations.jgz", frames)
    _jgz(
        cat / "sequence_annotations.jgz",
        [{"sequence_name": sequence, "category": category, "viewpoint_quality_score": 1.0}],
    )
    (cat / "set_lists").mkdir(parents=True, exist_ok=True)
    (cat / "set_lists" / "set_lists_fewview_dev.json").write_text(
        json.dumps({"train": set_list, "val": [], "test": []})
    )
    boxes = {}
    for i in range(n_views):
        ys, xs = torch.nonzero(mask[i, 0], as_tuple=True)
        boxes[frames[i]["mask"]["path"]] = [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]
    _jgz(cat / f"{category}_bbox.jgz", boxes)


def write_generic(folder: Path, n: int = 512, size: int = 32, seed: int = 0, fov: float = 40.0) -> None:
    """Uniformly coloured cubes and spheres at random orbit poses: ``images/<i>.png`` + ``caption.txt`` (one line
    per image), the layout of the paper's regularisation folders."""
    g = torch.Generator().manual_seed(seed)
    names = list(GENERIC_COLORS)
    az = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    el = torch.deg2rad(5 + 35 * torch.rand(n, generator=g, dtype=torch.float64))
    rad = 2.2 + 0.6 * torch.rand(n, generator=g, dtype=torch.float64)
    R, T = cameras_at(az, el, rad)
    colors = torch.randint(0, len(names), (n,), generator=g)
    shapes = torch.randint(0, 2, (n,), generator=g)
    focal = fov_to_focal(fov)
    captions = []
    for i in range(n):
        name = names[int(colors[i])]
        col = torch.tensor(GENERIC_COLORS[name])
        if shapes[i] == 0:
            rgb, _m, _f = render_cube(R[i : i + 1], T[i : i + 1], focal, size, colors=col.expand(6, 3))
            shape = "cube"
        else:
            rgb, _m, _f = render_sphere(R[i : i + 1], T[i : i + 1], focal, size, tuple(col.tolist()))
            shape = "sphere"
        _png(folder / "images" / f"{i}.png", rgb[0])
        captions.append(f"photo of a {name} {shape}")
    (folder / "caption.txt").write_text("\n".join(captions) + "\n")
