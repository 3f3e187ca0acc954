"""Camera utilities in plain torch (no PyTorch3D): the paper's camera conventions (Section 3.2, "FeatureNeRF").

Convention (PyTorch3D / CO3D, which the paper's data use):

* row vectors: ``X_cam = X_world @ R + T`` with ``R`` (3, 3) and ``T`` (3,); the camera centre is ``C = -T @ R^T``;
* camera axes: +x left, +y up, +z forward (the viewing direction);
* NDC ("ndc_isotropic"): ``x_ndc = f_x X/Z + p_x``, ``y_ndc = f_y Y/Z + p_y``; for a square image the pixel column
  ``u`` (0 = left) has ``x_ndc = 1 - (2u + 1)/W`` and the row ``v`` (0 = top) has ``y_ndc = 1 - (2v + 1)/H``;
  ``grid_sample`` wants (+x right, +y down), i.e. ``-x_ndc, -y_ndc``.

OpenCV / COLMAP cameras (x right, y down, column vectors, pixel intrinsics) are converted by
:func:`opencv_to_pytorch3d` (the ``diag(-1, -1, 1)`` flip). Camera normalisation (:func:`normalize_cameras`) moves
the least-squares intersection of the optical axes to the origin and scales the farthest camera to distance 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "camera_centers",
    "look_at",
    "ndc_pixel_grid",
    "normalize_cameras",
    "opencv_to_pytorch3d",
    "optical_axes_intersection",
    "orbit_axis",
    "plucker",
    "positional_encoding",
    "project",
    "rays_from_camera",
    "rotate_cameras_about_axis",
    "to_camera",
]


def camera_centers(R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Camera centres ``C = -T R^T``: (..., 3, 3), (..., 3) -> (..., 3)."""
    return -(T.unsqueeze(-2) @ R.transpose(-1, -2)).squeeze(-2)


def to_camera(points: torch.Tensor, R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """World points (..., P, 3) into the camera frame: ``X R + T`` with R (..., 3, 3), T (..., 3)."""
    return points @ R + T.unsqueeze(-2)


def project(
    points: torch.Tensor, R: torch.Tensor, T: torch.Tensor, focal: torch.Tensor, pp: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perspective projection to NDC: world (..., P, 3) -> (xy_ndc (..., P, 2), depth Z (..., P))."""
    cam = to_camera(points, R, T)  # (..., P, 3)
    z = cam[..., 2]
    xy = cam[..., :2] / z.clamp_min(eps).unsqueeze(-1)  # (..., P, 2); points behind the camera: see `z`
    return xy * focal.unsqueeze(-2) + pp.unsqueeze(-2), z


def ndc_pixel_grid(h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
    """NDC coordinates of the pixel centres, row-major: (h*w, 2) with +x left, +y up (square images: [-1, 1])."""
    s = min(h, w)
    xs = (w - 2 * torch.arange(w, device=device, dtype=torch.float32) - 1) / s  # (w,) left -> right: +1 .. -1
    ys = (h - 2 * torch.arange(h, device=device, dtype=torch.float32) - 1) / s  # (h,) top -> bottom: +1 .. -1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], -1).reshape(-1, 2)


def rays_from_camera(
    R: torch.Tensor,
    T: torch.Tensor,
    focal: torch.Tensor,
    pp: torch.Tensor,
    h: int,
    w: int,
    jitter: torch.Generator | bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ray per pixel centre (stratified jitter within the pixel when ``jitter``): origins, unit directions.

    R (B, 3, 3), T (B, 3), focal (B, 2), pp (B, 2) -> origins (B, h*w, 3), directions (B, h*w, 3).
    """
    b = R.shape[0]
    xy = ndc_pixel_grid(h, w, R.device).to(R.dtype).expand(b, -1, -1)  # (B, P, 2)
    if jitter is not None and jitter is not False:
        gen = jitter if isinstance(jitter, torch.Generator) else None
        noise = (
            torch.rand(xy.shape, generator=gen, device=R.device, dtype=R.dtype) - 0.5
        )  # (B, P, 2) in [-0.5, 0.5) pixels
        xy = xy + noise * (2.0 / min(h, w))
    cam_dirs = torch.cat([(xy - pp.unsqueeze(1)) / focal.unsqueeze(1), torch.ones_like(xy[..., :1])], -1)  # (B,P,3)
    dirs = F.normalize(cam_dirs @ R.transpose(-1, -2), dim=-1)  # camera -> world rotation: (B, P, 3)
    origins = camera_centers(R, T).unsqueeze(1).expand_as(dirs)  # (B, P, 3)
    return origins, dirs


def plucker(origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Plücker coordinates (d, o x d) of rays: (..., 3), (..., 3) -> (..., 6); invariant to o -> o + s d."""
    d = F.normalize(dirs, dim=-1)
    return torch.cat([d, torch.cross(origins, d, dim=-1)], -1)


def positional_encoding(x: torch.Tensor, n_freqs: int, min_exp: int = 0, include_input: bool = True) -> torch.Tensor:
    """NeRF encoding with frequencies ``2^k pi``, k = min_exp .. min_exp + n_freqs - 1 (paper: 16 from k = -8).

    (..., D) -> (..., D * (2 n_freqs + include_input)), ordered [x, sin(f_0 x), cos(f_0 x), sin(f_1 x), ...].
    """
    if n_freqs == 0:
        return x if include_input else x[..., :0]
    freqs = math.pi * 2.0 ** torch.arange(min_exp, min_exp + n_freqs, dtype=x.dtype, device=x.device)  # (F,)
    ang = x.unsqueeze(-1) * freqs  # (..., D, F)
    enc = torch.stack([ang.sin(), ang.cos()], -1).flatten(-3)  # (..., D * F * 2)
    return torch.cat([x, enc], -1) if include_input else enc


def look_at(eye: torch.Tensor, at: torch.Tensor | None = None, up: torch.Tensor | None = None) -> tuple:
    """PyTorch3D-style look-at cameras: eye (B, 3) -> R (B, 3, 3) (columns = camera axes in world), T (B, 3)."""
    at = torch.zeros_like(eye) if at is None else at.expand_as(eye)
    up = eye.new_tensor([0.0, 0.0, 1.0]).expand_as(eye) if up is None else up.expand_as(eye)
    z = F.normalize(at - eye, dim=-1)  # forward
    x = F.normalize(torch.cross(up, z, dim=-1), dim=-1)  # left (PyTorch3D: +x left when +y is up)
    y = torch.cross(z, x, dim=-1)  # up
    R = torch.stack([x, y, z], dim=-1)  # (B, 3, 3), columns
    T = -(eye.unsqueeze(-2) @ R).squeeze(-2)
    return R, T


def opencv_to_pytorch3d(
    R_cv: torch.Tensor, t_cv: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV/COLMAP (x_cam = R_cv x + t, pixels, x right / y down) -> PyTorch3D row-vector R, T and NDC focal, pp.

    R_cv (B, 3, 3), t_cv (B, 3), K (B, 3, 3) with fx, fy, cx, cy in pixels, image_size (h, w).
    """
    h, w = image_size
    s = min(h, w) / 2.0
    flip = R_cv.new_tensor([-1.0, -1.0, 1.0])
    R = (flip.view(1, 3, 1) * R_cv).transpose(-1, -2)  # (B, 3, 3): rows of R_cv flipped, then transposed
    T = t_cv * flip  # (B, 3)
    focal = torch.stack([K[:, 0, 0], K[:, 1, 1]], -1) / s  # (B, 2)
    pp = torch.stack([-(K[:, 0, 2] - w / 2.0), -(K[:, 1, 2] - h / 2.0)], -1) / s  # (B, 2)
    return R, T, focal, pp


def optical_axes_intersection(R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Least-squares point closest to every optical axis: R (N, 3, 3), T (N, 3) -> (3,)."""
    c = camera_centers(R, T)  # (N, 3)
    d = F.normalize(R[..., :, 2], dim=-1)  # forward axis in world = third column: (N, 3)
    proj = torch.eye(3, dtype=R.dtype, device=R.device) - d.unsqueeze(-1) * d.unsqueeze(-2)  # (N, 3, 3)
    a = proj.sum(0)
    b = (proj @ c.unsqueeze(-1)).sum(0).squeeze(-1)
    return torch.linalg.lstsq(a, b.unsqueeze(-1)).solution.squeeze(-1)


def normalize_cameras(R: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Move the axes' intersection to the origin and scale the farthest camera to distance 1.

    Returns (R, T', centre (3,), scale): a world point X maps to (X - centre) * scale; T' = scale (T + centre R).
    """
    centre = optical_axes_intersection(R, T)
    c = camera_centers(R, T) - centre
    scale = 1.0 / float(c.norm(dim=-1).max().clamp_min(1e-8))
    T_new = scale * (T + (centre.unsqueeze(0) @ R).squeeze(-2))
    return R, T_new, centre, scale


def orbit_axis(R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """The up axis of an orbit capture: the normal of the camera centres' best-fit plane, oriented along the mean
    camera +y (up) axis. R (N, 3, 3), T (N, 3) -> (3,) unit vector."""
    c = camera_centers(R, T)
    c = c - c.mean(0)
    normal = torch.linalg.svd(c, full_matrices=True).Vh[-1]  # smallest principal direction
    up = R[..., :, 1].mean(0)
    return F.normalize(normal * torch.sign((normal * up).sum() + 1e-12), dim=0)


def rotate_cameras_about_axis(
    R: torch.Tensor, T: torch.Tensor, angle: torch.Tensor | float, axis: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cameras moved on their orbit: rotate the world by ``angle`` (radians) about ``axis`` through the origin.

    R (B, 3, 3), T (B, 3), axis (B, 3) or (3,) -> R', T' (the camera centre rotates, the view follows).
    """
    axis = F.normalize(axis.expand(R.shape[0], 3), dim=-1)
    angle = torch.as_tensor(angle, dtype=R.dtype, device=R.device).expand(R.shape[0])
    k = torch.zeros(R.shape[0], 3, 3, dtype=R.dtype, device=R.device)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(-1, -2)  # skew matrix [axis]_x
    s, c = angle.sin().view(-1, 1, 1), angle.cos().view(-1, 1, 1)
    rot = torch.eye(3, dtype=R.dtype, device=R.device) + s * k + (1 - c) * (k @ k)  # Rodrigues, column-vector form
    # new camera sees X as the old one saw rot^T X: X_cam = (rot^T X)^T R + T = X^T rot R + T (row vectors)
    return rot @ R, T
