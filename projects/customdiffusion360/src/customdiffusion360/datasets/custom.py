"""A user's own object: ``images/*.{jpg,png}``, optional ``masks/*.png`` and cameras in one of two forms.

    <root>/images/0001.jpg ...
    <root>/masks/0001.png ...             optional, same stem and size as the image (foreground > 125)
    <root>/cameras.json                   either this ...
    <root>/sparse/0/cameras.txt, images.txt   ... or a COLMAP text model

``cameras.json`` (OpenCV / COLMAP convention: world-to-camera ``x_cam = R x_world + T`` with column vectors, x right,
y down, z forward; focal length and principal point in pixels)::

    {"frames": [{"file": "0001.jpg", "R": [[...], [...], [...]], "T": [tx, ty, tz],
                 "focal": [fx, fy], "principal_point": [cx, cy]}, ...]}

Add ``"convention": "pytorch3d"`` at the top level for cameras already in CO3D's convention (row vectors,
``X_cam = X R + T``, NDC-isotropic focal / principal point). COLMAP: PINHOLE, SIMPLE_PINHOLE, SIMPLE_RADIAL, RADIAL
and OPENCV cameras (distortion ignored, logged); ``images.txt`` quaternions (qw, qx, qy, qz) and translations.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from customdiffusion360.cameras import opencv_to_pytorch3d
from customdiffusion360.datasets.common import (
    Scene,
    check_rotations,
    read_image,
    read_mask,
    scene_from_views,
    square_resize,
)
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["load_custom", "quaternion_to_matrix"]

log = logging.getLogger(__name__)

EXPECTED = {"images": ["0001.jpg", "..."], "masks": ["0001.png", "... (optional)"], "cameras.json": None}
HINT = "Cameras may instead come from COLMAP as sparse/0/cameras.txt + sparse/0/images.txt (README, 'Custom data')."


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(qw, qx, qy, qz) -> 3x3 rotation (COLMAP's world-to-camera convention)."""
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _cameras_json(path: Path, names: list[str]) -> tuple[dict, str]:
    try:
        data = json.loads(path.read_text())
        frames = data["frames"]
        conv = data.get("convention", "opencv")
        table = {Path(f["file"]).name: f for f in frames}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise DataFormatError(
            path,
            f"not a cameras.json ({err.__class__.__name__}: {err})",
            expected='{"frames": [{"file", "R", "T", "focal", "principal_point"}, ...]}',
        ) from None
    if conv not in ("opencv", "pytorch3d"):
        raise DataFormatError(path, f"unknown convention '{conv}'", expected="'opencv' (default) or 'pytorch3d'")
    _match(path, names, set(table))
    return table, conv


def _match(path: Path, names: list[str], have: set[str]) -> None:
    lacking = [n for n in names if n not in have]
    extra = sorted(have - set(names))
    if lacking or extra:
        raise DataFormatError(
            path,
            f"the cameras do not match the images: {len(names)} images, {len(have)} cameras; no camera for "
            f"{lacking[:3]}{'...' if len(lacking) > 3 else ''}; cameras without an image: {extra[:3]}",
            expected="exactly one camera per file in images/",
        )


def _colmap(sparse: Path, names: list[str]) -> dict:
    cams: dict[int, tuple[str, int, int, list[float]]] = {}
    cpath, ipath = sparse / "cameras.txt", sparse / "images.txt"
    try:
        for line in cpath.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                p = line.split()
                cams[int(p[0])] = (p[1], int(p[2]), int(p[3]), [float(v) for v in p[4:]])
    except (ValueError, IndexError, UnicodeDecodeError) as err:
        raise DataFormatError(
            cpath, f"not a COLMAP cameras.txt ({err})", expected="CAMERA_ID MODEL WIDTH HEIGHT PARAMS[] per line"
        ) from None
    table = {}
    try:
        lines = [ln for ln in ipath.read_text().splitlines() if not ln.startswith("#")]
        for line in lines[::2]:
            p = line.split()
            if not p:
                continue
            q, t, cam_id, name = np.array(p[1:5], float), np.array(p[5:8], float), int(p[8]), p[9]
            model, _w, _h, par = cams[cam_id]
            if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
                fx = fy = par[0]
                cx, cy = par[1], par[2]
            elif model in ("PINHOLE", "OPENCV"):
                fx, fy, cx, cy = par[:4]
            else:
                raise DataFormatError(
                    cpath,
                    f"camera model {model} is not supported",
                    expected="PINHOLE, SIMPLE_PINHOLE, SIMPLE_RADIAL, RADIAL or OPENCV",
                )
            if model not in ("SIMPLE_PINHOLE", "PINHOLE"):
                log.info("COLMAP camera %d (%s): distortion ignored", cam_id, model)
            table[Path(name).name] = {
                "R": quaternion_to_matrix(q).tolist(),
                "T": t.tolist(),
                "focal": [fx, fy],
                "principal_point": [cx, cy],
            }
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as err:
        raise DataFormatError(
            ipath,
            f"not a COLMAP images.txt ({err.__class__.__name__}: {err})",
            expected="IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME + a points line",
        ) from None
    _match(ipath, names, set(table))
    return table


def load_custom(root: str | Path, image_size: int, category: str, use_masks: bool = True) -> Scene:
    root = Path(root)
    img_dir = root / "images"
    files = (
        sorted(p for p in img_dir.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if img_dir.is_dir()
        else []
    )
    if not files:
        raise DataNotFoundError("custom", root, missing=["images/*.jpg|png"], expected=EXPECTED, hint=HINT)
    names = [p.name for p in files]
    cam_json, sparse = root / "cameras.json", root / "sparse" / "0"
    if cam_json.is_file():
        table, conv, cam_file = *_cameras_json(cam_json, names), cam_json
    elif (sparse / "cameras.txt").is_file() and (sparse / "images.txt").is_file():
        table, conv, cam_file = _colmap(sparse, names), "opencv", sparse / "images.txt"
    else:
        raise DataNotFoundError(
            "custom", root, missing=["cameras.json (or sparse/0/{cameras,images}.txt)"], expected=EXPECTED, hint=HINT
        )
    mask_dir = root / "masks"
    use_masks = use_masks and mask_dir.is_dir()
    if not use_masks:
        log.warning(
            "custom: no masks/ folder: the silhouette, background and RGB losses are off and the diffusion "
            "loss covers the whole image (README, 'Custom data')"
        )
    images, masks, Rs, Ts, focals, pps = [], [], [], [], [], []
    for p in files:
        img = read_image(p)
        h, w = img.shape[:2]
        c = table[p.name]
        try:
            R, T = torch.tensor(c["R"], dtype=torch.float64), torch.tensor(c["T"], dtype=torch.float64)
            f, pp = (
                torch.tensor(c["focal"], dtype=torch.float64),
                torch.tensor(c["principal_point"], dtype=torch.float64),
            )
            if R.shape != (3, 3) or T.shape != (3,) or f.shape != (2,) or pp.shape != (2,):
                raise ValueError(f"shapes R {tuple(R.shape)}, T {tuple(T.shape)}")
        except (KeyError, TypeError, ValueError) as err:
            raise DataFormatError(
                cam_file,
                f"the camera of '{p.name}' is malformed ({err})",
                expected="R 3x3, T 3, focal 2, principal_point 2",
            ) from None
        Rs.append(R), Ts.append(T)
        if conv == "opencv":
            K = torch.tensor([[f[0], 0, pp[0]], [0, f[1], pp[1]], [0, 0, 1]], dtype=torch.float64)
            check_rotations(R[None], cam_file, [p.name])
            R3, T3, fn, ppn = opencv_to_pytorch3d(R[None], T[None], K[None], (h, w))
            Rs[-1], Ts[-1], f, pp = R3[0], T3[0], fn[0], ppn[0]
        mask = None
        if use_masks:
            mp = mask_dir / (p.stem + ".png")
            if not mp.is_file():
                raise DataNotFoundError(
                    "custom masks",
                    root,
                    missing=[f"masks/{mp.name}"],
                    expected=EXPECTED,
                    hint="Every image needs a mask of the same stem, or remove masks/.",
                )
            mask = read_mask(mp, (h, w))
        im, m, f, pp = square_resize(img, mask, f.float(), pp.float(), image_size)
        images.append(im), masks.append(m), focals.append(f), pps.append(pp)
    return scene_from_views(images, masks, Rs, Ts, focals, pps, names, category, use_masks, cam_file)
