"""Real-format loaders on fixtures written in the official formats (CO3Dv2, cameras.json, COLMAP), their errors,
the synthetic generator, the sampling of training / evaluation examples and the predict file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cd360_fixtures import FX, H, W, orbit_cv, write_co3d, write_custom
from PIL import Image

from customdiffusion360.cameras import camera_centers, optical_axes_intersection, project
from customdiffusion360.data import CD360DataModule, load_predict_file
from customdiffusion360.datasets import load_co3d, load_custom
from paperkit.errors import DataFormatError, DataNotFoundError


def _box_centre_pixels(scene, v: int, size: int) -> tuple[float, float]:
    ys, xs = torch.nonzero(scene.masks[v, 0], as_tuple=True)
    return float(xs.float().mean()), float(ys.float().mean())


def _check_cameras_match_masks(scene, size: int) -> None:
    """The origin (the box centre, after normalisation) projects onto the centre of each mask."""
    for v in range(len(scene)):
        xy, z = project(
            torch.zeros(1, 1, 3), scene.R[v : v + 1], scene.T[v : v + 1], scene.focal[v : v + 1], scene.pp[v : v + 1]
        )
        col, row = (1 - float(xy[0, 0, 0])) * size / 2, (1 - float(xy[0, 0, 1])) * size / 2
        mc, mr = _box_centre_pixels(scene, v, size)
        assert abs(col - 0.5 - mc) < 1.5 and abs(row - 0.5 - mr) < 1.5, (v, col, row, mc, mr)
        assert float(z) > 0


def test_co3d_loader_reads_the_official_layout(tmp_path: Path) -> None:
    root = write_co3d(tmp_path / "co3d")
    scene = load_co3d(root, "toybox", "42_1_2", image_size=32)
    assert scene.images.shape == (8, 3, 32, 32) and scene.masks.shape == (8, 1, 32, 32)
    # W x H = 40 x 30 padded to 40 x 40 (white), then resized: top and bottom rows are padding
    assert torch.allclose(scene.images[0, :, 0], torch.ones(3, 32), atol=1e-6)
    torch.testing.assert_close(camera_centers(scene.R, scene.T).norm(dim=-1).max(), torch.tensor(1.0))
    assert float(optical_axes_intersection(scene.R.double(), scene.T.double()).norm()) < 1e-5
    _check_cameras_match_masks(scene, 32)
    assert load_co3d(root, "toybox", None, 32).names == scene.names  # best viewpoint-quality sequence by default


def test_custom_cameras_json_and_colmap_give_the_same_cameras(tmp_path: Path) -> None:
    a = load_custom(write_custom(tmp_path / "json"), 32, "toybox")
    b = load_custom(write_custom(tmp_path / "colmap", cameras="colmap"), 32, "toybox")
    torch.testing.assert_close(a.R, b.R, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.T, b.T, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.focal, b.focal)
    _check_cameras_match_masks(a, 32)
    # the same object through CO3D's convention gives the same normalised cameras
    c = load_co3d(write_co3d(tmp_path / "co3d"), "toybox", "42_1_2", 32)
    torch.testing.assert_close(a.R, c.R, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.T, c.T, atol=1e-4, rtol=0)
    torch.testing.assert_close(a.focal, torch.full((8, 2), FX / (max(H, W) / 2)))


def test_custom_without_masks_turns_the_masks_off(tmp_path: Path) -> None:
    scene = load_custom(write_custom(tmp_path / "c", masks=False), 32, "toybox")
    assert scene.masks is None


def test_camera_count_mismatch_names_the_file(tmp_path: Path) -> None:
    root = write_custom(tmp_path / "c")
    data = json.loads((root / "cameras.json").read_text())
    data["frames"] = data["frames"][:-1]
    (root / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"cameras\.json.*8 images, 7 cameras"):
        load_custom(root, 32, "toybox")


def test_a_non_rotation_is_rejected_naming_the_file_and_frame(tmp_path: Path) -> None:
    root = write_custom(tmp_path / "c")
    data = json.loads((root / "cameras.json").read_text())
    data["frames"][2]["R"] = (2 * np.array(data["frames"][2]["R"])).tolist()
    (root / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"cameras\.json.*0002\.jpg.*not a rotation"):
        load_custom(root, 32, "toybox")
    co3d = write_co3d(tmp_path / "co3d")
    fa = co3d / "toybox" / "frame_annotations.jgz"
    with gzip.open(fa, "rt") as f:
        frames = json.load(f)
    frames[1]["viewpoint"]["R"] = [[1, 0, 0], [0, 1, 0], [0, 0, -1]]  # a reflection
    with gzip.open(fa, "wt") as f:
        json.dump(frames, f)
    with pytest.raises(DataFormatError, match=r"frame_annotations\.jgz.*frame000002.*not a rotation"):
        load_co3d(co3d, "toybox", "42_1_2", 32)


def test_a_mask_of_the_wrong_size_names_the_mask(tmp_path: Path) -> None:
    root = write_custom(tmp_path / "c")
    Image.fromarray(np.zeros((H + 2, W), np.uint8)).save(root / "masks" / "0003.png")
    with pytest.raises(DataFormatError, match=r"0003\.png.*40x32 but its image is 40x30"):
        load_custom(root, 32, "toybox")


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"frame_annotations\.jgz"):
        load_co3d(tmp_path, "toybox", None, 32)
    root = write_custom(tmp_path / "c")
    (root / "images" / "0001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match=r"0001\.jpg.*not a readable image"):
        load_custom(root, 32, "toybox")
    (root / "cameras.json").unlink()
    with pytest.raises(DataNotFoundError, match=r"cameras\.json"):
        load_custom(root, 32, "toybox")


def test_colmap_images_txt_is_parsed_with_quaternions(tmp_path: Path) -> None:
    root = write_custom(tmp_path / "colmap", cameras="colmap")
    text = (root / "sparse" / "0" / "images.txt").read_text().splitlines()
    first = next(ln for ln in text if ln and not ln.startswith("#")).split()
    R_cv, _t = orbit_cv(8)[0]
    q = np.array(first[1:5], float)
    from customdiffusion360.datasets.custom import quaternion_to_matrix

    np.testing.assert_allclose(quaternion_to_matrix(q), R_cv, atol=1e-9)


def test_synthetic_data_is_deterministic_and_split_by_frame_parity(tmp_path: Path) -> None:
    dm = CD360DataModule(root=str(tmp_path / "a"), generic_images=8)
    dm.setup("fit")
    dm2 = CD360DataModule(root=str(tmp_path / "b"), generic_images=8)
    dm2.setup("fit")
    assert torch.equal(dm.scene.images, dm2.scene.images) and torch.equal(dm.reg[0], dm2.reg[0])
    assert sorted(dm.train_views) == list(range(0, 32, 2))
    assert dm.val_views == list(range(1, 32, 4)) and dm.test_views == list(range(3, 32, 4))
    torch.testing.assert_close(dm.up, torch.tensor([0.0, 0.0, 1.0]), atol=1e-5, rtol=0)
    # the six faces have six colours: the mean colour of the visible object differs between opposite views
    a, b = dm.scene.images[0][:, dm.scene.masks[0, 0] > 0], dm.scene.images[16][:, dm.scene.masks[16, 0] > 0]
    assert (a.mean(1) - b.mean(1)).abs().max() > 0.3


def test_training_samples_spread_references_and_exclude_the_target(tmp_path: Path) -> None:
    dm = CD360DataModule(root=str(tmp_path), generic_images=8, n_refs=4, p_reg=0.0, p_text_drop=0.0)
    dm.setup("fit")
    torch.manual_seed(0)
    for _ in range(20):
        s = dm.sample(0, None)
        refs = s["ref_view"].tolist()
        assert int(s["view"]) not in refs and len(set(refs)) == 4
        az = sorted(float(dm.azimuths[r]) for r in refs)
        gaps = np.diff([*az, az[0] + 360])
        assert gaps.max() <= 135, gaps  # evenly spaced slots (90°) moved by at most one view
        assert all(t in dm.grid.tolist() for t in s["ref_t"].tolist())
    ev = dm.sample(3, dm.val_views[0])
    assert ev["ref_t"].tolist() == [int(dm.grid[0])] * 4 and int(ev["view"]) == dm.val_views[0]
    assert ev["prompt"] == "photo of a <new1> cube" and ev["ref_prompt"] == "photo of a cube"


def test_regularisation_samples_have_zero_references_and_full_masks(tmp_path: Path) -> None:
    dm = CD360DataModule(root=str(tmp_path), generic_images=8, p_reg=1.0, p_text_drop=0.0)
    dm.setup("fit")
    s = dm.sample(0, None)
    assert float(s["is_reg"]) == 1.0 and (s["ref_view"] == -1).all() and s["mask"].min() == 1
    assert s["prompt"].startswith("photo of a ") and "<new1>" not in s["prompt"] and s["ref_prompt"] == ""


def test_predict_file_azimuths_and_errors(tmp_path: Path) -> None:
    dm = CD360DataModule(root=str(tmp_path / "d"), generic_images=8)
    dm.setup("fit")
    f = tmp_path / "targets.json"
    f.write_text(json.dumps({"prompt": "photo of a <new1> cube", "targets": [{"azimuth": 0}, {"azimuth": 90}]}))
    prompts, cams, rows = load_predict_file(f, dm.scene)
    assert prompts == ["photo of a <new1> cube"] * 2 and rows[1]["azimuth"] == 90.0
    # azimuth 0 is the first view's direction: the same camera centre as view 0
    torch.testing.assert_close(
        camera_centers(cams["R"][:1], cams["T"][:1])[0],
        camera_centers(dm.scene.R[:1], dm.scene.T[:1])[0],
        atol=1e-5,
        rtol=0,
    )
    f.write_text(json.dumps({"targets": [{"azimuth": 10}]}))
    with pytest.raises(DataFormatError, match=r"targets\.json.*no prompt"):
        load_predict_file(f, dm.scene)
    with pytest.raises(DataNotFoundError, match=r"nope\.json"):
        load_predict_file(tmp_path / "nope.json", dm.scene)
