"""One posed capture of one object (a ``Scene``) and the preprocessing the paper applies to it (Section 4, "Data").

Every loader returns images padded to a square (centred, a padding value of 1 = white) and resized to
``image_size``, masks resized the same way, and PyTorch3D NDC cameras of the *square* image, normalised so that the
least-squares intersection of the optical axes is the origin and the farthest camera is at distance 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from customdiffusion360.cameras import camera_centers, look_at, normalize_cameras, orbit_axis
from paperkit.errors import DataFormatError

__all__ = ["Scene", "check_rotations", "orbit_camera", "read_image", "read_mask", "scene_from_views", "square_resize"]


@dataclass
class Scene:
    """V views of one object: images (V, 3, S, S) in [0, 1], masks (V, 1, S, S) in {0, 1} (or None), cameras."""

    images: torch.Tensor
    masks: torch.Tensor | None
    R: torch.Tensor  # (V, 3, 3)
    T: torch.Tensor  # (V, 3)
    focal: torch.Tensor  # (V, 2)
    pp: torch.Tensor  # (V, 2)
    names: list[str]
    category: str

    def __post_init__(self) -> None:
        v = self.images.shape[0]
        for name, t in (("R", self.R), ("T", self.T), ("focal", self.focal), ("pp", self.pp)):
            if t.shape[0] != v:
                raise ValueError(f"scene: {v} images but {t.shape[0]} camera {name} entries")

    def __len__(self) -> int:
        return self.images.shape[0]

    def normalized(self) -> Scene:
        R, T, _c, _s = normalize_cameras(self.R.double(), self.T.double())
        return Scene(self.images, self.masks, R.float(), T.float(), self.focal, self.pp, self.names, self.category)

    @property
    def up(self) -> torch.Tensor:
        return orbit_axis(self.R.double(), self.T.double()).float()


def orbit_camera(
    scene: Scene,
    azimuth_deg: torch.Tensor,
    elevation_deg: torch.Tensor,
    radius: float | None = None,
    up: torch.Tensor | None = None,
):
    """Cameras on the scene's orbit: azimuth 0 = the first view's direction, elevation above the orbit plane.

    Returns R (K, 3, 3), T (K, 3), focal (K, 2), pp (K, 2) (the mean focal of the views, centred principal point).
    """
    up = (scene.up if up is None else up).double()
    c = camera_centers(scene.R.double(), scene.T.double())  # (V, 3)
    e1 = c[0] - (c[0] @ up) * up
    e1 = e1 / e1.norm().clamp_min(1e-8)
    e2 = torch.linalg.cross(up, e1)
    r = float(c.norm(dim=-1).mean()) if radius is None else radius
    az, el = torch.deg2rad(azimuth_deg.double()), torch.deg2rad(elevation_deg.double())
    eye = r * (el.cos()[:, None] * (az.cos()[:, None] * e1 + az.sin()[:, None] * e2) + el.sin()[:, None] * up)
    R, T = look_at(eye, up=up)
    k = eye.shape[0]
    focal = scene.focal.mean(0, keepdim=True).expand(k, 2)
    return R.float(), T.float(), focal.clone(), torch.zeros(k, 2)


def azimuths_of(scene: Scene) -> torch.Tensor:
    """Each view's azimuth (degrees, [0, 360)) about the orbit axis, 0 = the first view."""
    up = scene.up.double()
    c = camera_centers(scene.R.double(), scene.T.double())
    e1 = c[0] - (c[0] @ up) * up
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(up, e1)
    return torch.rad2deg(torch.atan2(c @ e2, c @ e1)).remainder(360).float()


def check_rotations(R: torch.Tensor, path: Path, names: list[str], tol: float = 1e-3) -> None:
    """Every R must be a rotation (R R^T = I, det = +1), else a DataFormatError naming the file and the frame."""
    eye = torch.eye(3, dtype=R.dtype)
    err = (R @ R.transpose(-1, -2) - eye).abs().flatten(1).amax(1)
    det = torch.linalg.det(R)
    bad = ((err > tol) | ((det - 1).abs() > tol)).nonzero().flatten().tolist()
    if bad:
        i = bad[0]
        raise DataFormatError(
            path,
            f"the camera rotation of '{names[i]}' is not a rotation matrix (|R R^T - I| = {float(err[i]):.3g}, "
            f"det = {float(det[i]):.3g}; {len(bad)} such cameras)",
            expected="orthonormal 3x3 matrices with determinant +1",
        )


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); an undecodable file is a DataFormatError naming it."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataFormatError(
            path, f"not a readable image ({err.__class__.__name__})", expected="a JPEG or PNG"
        ) from None


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask PNG of the image's size (H, W), foreground = value > 125 (as CO3D): bool (H, W)."""
    try:
        with Image.open(path) as im:
            m = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataFormatError(
            path, f"not a readable mask image ({err.__class__.__name__})", expected="a grayscale PNG"
        ) from None
    if m.shape != tuple(size):
        raise DataFormatError(
            path,
            f"the mask is {m.shape[1]}x{m.shape[0]} but its image is {size[1]}x{size[0]}",
            expected="a mask of exactly the image's width and height",
        )
    return m > 125


def square_resize(
    image: np.ndarray, mask: np.ndarray | None, focal: torch.Tensor, pp: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Pad (H, W) to a centred square of side max(H, W) (white), resize to ``size``; NDC intrinsics follow.

    With isotropic NDC (units of min(H, W) / 2) padding to S = max(H, W) scales focal and principal point by
    min(H, W) / S; resizing a square image leaves NDC unchanged.
    """
    h, w = image.shape[:2]
    s = max(h, w)
    top, left = (s - h) // 2, (s - w) // 2
    img = torch.ones(3, s, s)
    img[:, top : top + h, left : left + w] = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255.0
    img = F.interpolate(img[None], size=(size, size), mode="area" if s > size else "bilinear")[0]
    m = None
    if mask is not None:
        mm = torch.zeros(1, s, s)
        mm[:, top : top + h, left : left + w] = torch.from_numpy(mask.astype(np.float32))
        m = (F.interpolate(mm[None], size=(size, size), mode="area" if s > size else "bilinear")[0] > 0.5).float()
    scale = min(h, w) / s
    return img.clamp(0, 1), m, focal * scale, pp * scale


def fov_to_focal(fov_deg: float) -> float:
    """NDC focal length of a field of view (square image)."""
    return 1.0 / math.tan(math.radians(fov_deg) / 2)


def scene_from_views(
    images: list[torch.Tensor],
    masks: list[torch.Tensor],
    Rs: list[torch.Tensor],
    Ts: list[torch.Tensor],
    focals: list[torch.Tensor],
    pps: list[torch.Tensor],
    names: list[str],
    category: str,
    use_masks: bool,
    camera_file: Path,
) -> Scene:
    """Stack per-view tensors into a normalised :class:`Scene`; rotations are checked (errors name ``camera_file``)."""
    R = torch.stack(Rs)
    check_rotations(R, camera_file, names)
    return Scene(
        torch.stack(images),
        torch.stack(masks) if use_masks else None,
        R.float(),
        torch.stack(Ts).float(),
        torch.stack(focals),
        torch.stack(pps),
        names,
        category,
    ).normalized()
