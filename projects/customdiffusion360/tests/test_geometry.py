"""Camera and rendering geometry (paper Section 3.2) against analytic values: projection vs the renderer's
silhouettes, Plücker invariance, volume weights, camera normalisation, importance sampling, conventions."""

from __future__ import annotations

import itertools
import math

import torch

from customdiffusion360.cameras import (
    camera_centers,
    look_at,
    normalize_cameras,
    opencv_to_pytorch3d,
    optical_axes_intersection,
    plucker,
    positional_encoding,
    project,
    rays_from_camera,
    rotate_cameras_about_axis,
)
from customdiffusion360.datasets.common import fov_to_focal
from customdiffusion360.datasets.synthetic import orbit_cameras, render_cube
from customdiffusion360.nerf import Cameras, sample_pdf, sample_reference_features, stratified_depths, volume_render


def test_projected_cube_corners_bound_the_rendered_silhouette() -> None:
    R, T = orbit_cameras(8, elevation=20.0, radius=2.5)
    focal, size = fov_to_focal(40.0), 32
    _, mask, _ = render_cube(R, T, focal, size)
    corners = torch.tensor(list(itertools.product([-0.5, 0.5], repeat=3)))
    f = torch.full((8, 2), focal)
    xy, z = project(corners.expand(8, 8, 3), R, T, f, torch.zeros(8, 2))  # (8 views, 8 corners, 2)
    assert (z > 0).all()
    cols = (1 - xy[..., 0]) * size / 2  # NDC +x left -> pixel column (continuous, 0 = left edge)
    rows = (1 - xy[..., 1]) * size / 2
    for v in range(8):
        ys, xs = torch.nonzero(mask[v, 0], as_tuple=True)
        # the silhouette of a convex box is the hull of its projected corners: same bounding box within a pixel
        assert abs(float(cols[v].min()) - int(xs.min())) <= 1.0 and abs(float(cols[v].max()) - int(xs.max()) - 1) <= 1.0
        assert abs(float(rows[v].min()) - int(ys.min())) <= 1.0 and abs(float(rows[v].max()) - int(ys.max()) - 1) <= 1.0


def test_rays_pass_through_their_pixels_and_start_at_the_camera() -> None:
    R, T = orbit_cameras(3)
    f = torch.full((3, 2), 2.0)
    pp = torch.tensor([[0.1, -0.05]] * 3)
    o, d = rays_from_camera(R, T, f, pp, 4, 4)
    torch.testing.assert_close(o[:, 0], camera_centers(R, T))
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(3, 16))
    xy, _ = project(o + 1.7 * d, R, T, f, pp)
    expected = torch.tensor([[(4 - 2 * c - 1) / 4, (4 - 2 * r - 1) / 4] for r in range(4) for c in range(4)])
    torch.testing.assert_close(xy, expected.expand(3, 16, 2), atol=1e-5, rtol=0)


def test_plucker_moment_is_invariant_to_moving_the_origin_along_the_ray() -> None:
    g = torch.Generator().manual_seed(0)
    o, d = torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g)
    s = torch.randn(50, 1, generator=g) * 3
    torch.testing.assert_close(plucker(o, d), plucker(o + s * d, d), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(plucker(o, d), plucker(o + torch.randn(50, 3, generator=g), d))


def test_volume_weights_by_hand_and_sum_at_most_one() -> None:
    depths = torch.tensor([[0.5, 1.0, 1.5]])
    sigma = torch.tensor([[1.0, 2.0, 0.0]])
    alpha, trans, w = volume_render(sigma, depths, far=2.0)
    a = [1 - math.exp(-0.5), 1 - math.exp(-1.0), 0.0]  # δ = 0.5 everywhere (last reaches far = 2)
    t = [1.0, math.exp(-0.5), math.exp(-1.5)]
    torch.testing.assert_close(alpha, torch.tensor([a]))
    torch.testing.assert_close(trans, torch.tensor([t]))
    torch.testing.assert_close(w, torch.tensor([[a[i] * t[i] for i in range(3)]]))
    g = torch.Generator().manual_seed(1)
    sig = torch.rand(64, 24, generator=g) * 50
    dep = torch.sort(torch.rand(64, 24, generator=g) * 2, -1).values
    w = volume_render(sig, dep, 2.0)[2]
    assert (w >= 0).all() and (w.sum(-1) <= 1 + 1e-6).all() and w.sum(-1).max() > 0.99


def test_camera_normalisation_centres_the_axes_and_scales_the_farthest_camera_to_one() -> None:
    g = torch.Generator().manual_seed(3)
    centre = torch.tensor([0.7, -1.2, 2.0])
    eyes = centre + torch.randn(10, 3, generator=g) * 4
    R, T = look_at(eyes, at=centre)
    torch.testing.assert_close(optical_axes_intersection(R.double(), T.double()).float(), centre, atol=1e-4, rtol=0)
    R2, T2, c, s = normalize_cameras(R.double(), T.double())
    torch.testing.assert_close(
        optical_axes_intersection(R2, T2), torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0
    )
    dist = camera_centers(R2, T2).norm(dim=-1)
    assert abs(float(dist.max()) - 1.0) < 1e-6
    # a world point keeps its image: X -> (X - c) s
    x = torch.randn(1, 5, 3, generator=g).double()
    before = project(x, R.double()[:1], T.double()[:1], torch.ones(1, 2).double(), torch.zeros(1, 2).double())[0]
    after = project((x - c) * s, R2[:1], T2[:1], torch.ones(1, 2).double(), torch.zeros(1, 2).double())[0]
    torch.testing.assert_close(before, after)


def test_importance_sampler_cdf_is_monotone_and_samples_follow_the_weights() -> None:
    bins = torch.linspace(0, 2, 9).expand(4, 9)
    weights = torch.tensor([[0, 0, 0, 1.0, 0, 0, 0, 0]]).expand(4, 8)
    pdf = (weights + 1e-5) / (weights + 1e-5).sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros(4, 1), pdf.cumsum(-1)], -1)
    assert (cdf[:, 1:] >= cdf[:, :-1]).all()
    s = sample_pdf(bins, weights, 64, torch.Generator().manual_seed(0))
    assert (s[:, 1:] >= s[:, :-1]).all(), "samples are sorted along the ray"
    assert ((s >= 0.75) & (s <= 1.0)).float().mean() > 0.95, "samples concentrate in the heavy bin [0.75, 1.0]"
    det = sample_pdf(bins, torch.ones(4, 8), 8, deterministic=True)
    torch.testing.assert_close(det[0], torch.linspace(0.125, 1.875, 8), atol=1e-3, rtol=0)
    strat = stratified_depths((2, 3), 8, 0.0, 2.0, torch.Generator().manual_seed(0), train=True)
    lo = torch.linspace(0, 2, 9)[:-1]
    assert ((strat >= lo) & (strat <= lo + 0.25)).all()


def test_opencv_cameras_convert_to_the_pytorch3d_ndc_convention() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(3, 3, generator=g)).Q
    R_cv = q * torch.sign(torch.linalg.det(q))
    t_cv = torch.tensor([0.1, -0.2, 4.0])
    K = torch.tensor([[50.0, 0, 31.0], [0, 48.0, 22.0], [0, 0, 1]])
    h, w = 40, 60
    x = torch.randn(6, 3, generator=g)
    cam = x @ R_cv.T + t_cv
    u, v = K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2], K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]
    R, T, f, pp = opencv_to_pytorch3d(R_cv[None], t_cv[None], K[None], (h, w))
    xy, _ = project(x[None], R, T, f, pp)
    s = min(h, w) / 2
    torch.testing.assert_close(xy[0, :, 0], (w / 2 - u) / s, atol=1e-4, rtol=0)  # +x left
    torch.testing.assert_close(xy[0, :, 1], (h / 2 - v) / s, atol=1e-4, rtol=0)  # +y up


def test_rotating_cameras_about_the_axis_moves_the_centre_on_its_orbit() -> None:
    R, T = orbit_cameras(4)
    R2, T2 = rotate_cameras_about_axis(R, T, math.pi / 2, torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(camera_centers(R2, T2), camera_centers(R, T).roll(-1, 0), atol=1e-5, rtol=0)
    torch.testing.assert_close(R2, R.roll(-1, 0), atol=1e-5, rtol=0)  # the shifted camera looks at the origin too


def test_positional_encoding_by_hand() -> None:
    x = torch.tensor([[0.25]])
    enc = positional_encoding(x, 2, min_exp=-1)
    f = [math.pi / 2, math.pi]
    expected = [0.25, math.sin(f[0] * 0.25), math.cos(f[0] * 0.25), math.sin(f[1] * 0.25), math.cos(f[1] * 0.25)]
    torch.testing.assert_close(enc, torch.tensor([expected]))


def test_points_on_a_ray_sample_the_reference_feature_of_their_own_pixel() -> None:
    """With the reference camera equal to the target camera, every depth sample of a pixel's ray reads that pixel's
    feature (checks the NDC sign flip for grid_sample and align_corners=False)."""
    R, T = orbit_cameras(2)
    f, pp = torch.full((2, 2), 1.5), torch.zeros(2, 2)
    h = w = 6
    feats = torch.arange(2 * h * w, dtype=torch.float32).reshape(2, 1, 1, h, w)  # (B, N=1, d=1, h, w)
    o, d = rays_from_camera(R, T, f, pp, h, w)
    depths = torch.tensor([0.5, 1.0, 2.0])
    pts = (o.unsqueeze(2) + depths.view(1, 1, 3, 1) * d.unsqueeze(2)).reshape(2, 1, -1, 3)  # (B, 1, P*3, 3)
    cams = Cameras(R[:, None], T[:, None], f[:, None], pp[:, None])
    got = sample_reference_features(pts, cams, feats)[..., 0].reshape(2, h * w, 3)
    torch.testing.assert_close(got, feats.reshape(2, h * w, 1).expand(2, h * w, 3), atol=1e-4, rtol=0)
