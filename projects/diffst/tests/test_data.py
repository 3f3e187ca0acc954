"""The synthetic generator, the official_npy loader on a fixture in that layout, bad inputs, and `diffst prepare`
on Xenium- and spaceranger-format fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from diffst.data import DiffSTDataModule
from diffst.evaluate import evaluate_baselines
from diffst.metrics import baseline_upsample, per_map_metrics
from diffst.official import find_patches, read_patch
from diffst.prepare import prepare_visium, prepare_xenium
from diffst.synthetic import SyntheticTissue, make_patches
from paperkit.errors import DataFormatError, DataNotFoundError


def test_synthetic_shapes_determinism_and_block_mean() -> None:
    cfg = SyntheticTissue()
    a, b = make_patches(cfg, 3, seed=5), make_patches(cfg, 3, seed=5)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["hr"], make_patches(cfg, 3, seed=6)["hr"])
    assert a["hr"].shape == (3, 8, 32, 32) and a["lr"].shape == (3, 8, 8, 8)
    assert a["image"].shape == (3, 3, 32, 32) and a["tiles"].shape == (3, 16, 3, 8, 8)
    block = a["hr"].reshape(3, 8, 8, 4, 8, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(a["lr"], block, rtol=1e-6)


def test_synthetic_signal_bicubic_beats_a_flat_map_and_histology_shows_the_types() -> None:
    cfg = SyntheticTissue()
    d = make_patches(cfg, 16, seed=1)
    hr, lr = torch.from_numpy(d["hr"]), torch.from_numpy(d["lr"])
    pcc = per_map_metrics(baseline_upsample(lr, 32, "bicubic"), hr)["pcc"]
    assert float(pcc.nanmean()) > 0.5  # the spot map carries the coarse pattern
    # the tissue image separates the cell types per HR pixel (nearest class mean of the RGB colour)
    img = d["image"].transpose(0, 2, 3, 1).reshape(-1, 3).astype(float)
    lab = d["labels"].reshape(-1)
    means = np.stack([img[lab == k].mean(axis=0) for k in range(4)])
    pred = np.argmin(((img[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == lab).mean() > 0.45  # chance (the largest type) is about 0.3


def _fixture_dm(root: Path, **kw) -> DiffSTDataModule:
    """The data module over the `official_root` fixture (samples S1 / S2, 4 genes, 8 -> 32, 16 tiles of 8 px)."""
    args = dict(dataset="official_npy", root=str(root), train_samples=["S1"], test_samples=["S2"], genes=4,
                lr_size=8, hr_size=32, tile_size=8, n_tiles=16)  # fmt: skip
    return DiffSTDataModule(**{**args, **kw})


def test_official_loader_reads_the_layout(official_root: Path) -> None:
    dm = _fixture_dm(official_root, batch_size=2)
    dm.setup("fit")
    assert len(dm.splits["train"]) == 3 and len(dm.splits["val"]) == 1 and len(dm.splits["test"]) == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["hr"].shape == (2, 4, 32, 32) and batch["lr"].shape == (2, 4, 8, 8)
    assert batch["tiles"].shape == (2, 16, 3, 8, 8) and float(batch["image"].max()) <= 1.0
    assert float(batch["hr"].amin()) == 0.0 and float(batch["hr"].amax()) == 1.0  # per patch and gene min-max
    order = np.load(official_root / "gene_order.npy")[:4]
    co = np.load(official_root / "gene_coexpre.npy")[np.ix_(order, order)]
    np.testing.assert_allclose(dm.adjacency, np.maximum(co, co.T), rtol=1e-6)
    # the first selected gene is the one gene_order puts first (patch r0_c0 is the held-out validation patch)
    raw = np.load(official_root / "Xenium/spot_ST/extract/S1/r0_c0/spot_ST.npy")[..., order[0]]
    want = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(dm.splits["val"][0]["lr"][0].numpy(), want, rtol=1e-5, atol=1e-6)


def test_hr128_target_is_nearest_upsampled(tmp_path: Path, writers: dict) -> None:
    root = writers["official"](tmp_path / "r", {"S1": 1}, hr_name="HR_ST_128")
    [files] = find_patches(root / "Xenium", ["S1"], "HR_ST_128")
    p = read_patch(files, np.arange(3), 8, 32, 16, 8)
    assert p["hr"].shape == (3, 32, 32)
    np.testing.assert_array_equal(p["hr"][:, ::2, ::2], p["hr"][:, 1::2, 1::2])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "spot_ST.npy"),
        ("shape", "(8 x 8 x *)"),
        ("genes", "at least"),
        ("nan", "NaN"),
        ("garbage", "not a NumPy"),
    ],
)
def test_bad_inputs_are_one_paragraph_errors_naming_the_file(official_root: Path, damage: str, message: str) -> None:
    spot = official_root / "Xenium/spot_ST/extract/S1/r0_c1/spot_ST.npy"
    if damage == "missing":
        (official_root / "Xenium/WSI/extract/S1/r0_c1/320_to16.npy").unlink()
        spot, message = official_root / "Xenium/WSI/extract/S1/r0_c1/320_to16.npy", "320_to16.npy"
    elif damage == "shape":
        np.save(spot, np.zeros((9, 9, 6), dtype=np.float32))
    elif damage == "genes":
        np.save(spot, np.zeros((8, 8, 2), dtype=np.float32))
    elif damage == "nan":
        arr = np.load(spot)
        arr[0, 0, 0] = np.nan
        np.save(spot, arr)
    else:
        spot.write_bytes(b"\x00garbage" * 50)
    dm = _fixture_dm(official_root)
    dm.setup("fit")
    with pytest.raises((DataFormatError, DataNotFoundError)) as err:
        for split in ("train", "val"):
            for i in range(len(dm.splits[split])):
                dm.splits[split][i]
    assert message in str(err.value) and spot.name in str(err.value)


def test_missing_root_lists_the_expected_layout(tmp_path: Path) -> None:
    dm = DiffSTDataModule(dataset="official_npy", root=str(tmp_path / "nope"), train_samples=["a"], test_samples=["b"])
    with pytest.raises(DataNotFoundError, match=r"gene_order\.npy"):
        dm.setup("fit")


@pytest.mark.parametrize("fmt", ["parquet", "csv.gz"])
def test_prepare_xenium_bins_every_kept_transcript(tmp_path: Path, writers: dict, fmt: str) -> None:
    fx = writers["xenium"](tmp_path / "xen", fmt=fmt)
    names = prepare_xenium(
        fx["transcripts"],
        fx["image"],
        fx["alignment"],
        tmp_path / "data",
        "S1",
        window=64,
        lr=8,
        hr=32,
        tile_px=16,
        tile_size=8,
    )
    assert names == ["r0_c0", "r0_c1"]
    base = tmp_path / "data/Xenium"
    hr_total = sum(np.load(base / f"HR_ST/extract/S1/{n}/HR_ST_32.npy").sum() for n in names)
    lr_total = sum(np.load(base / f"spot_ST/extract/S1/{n}/spot_ST.npy").sum() for n in names)
    assert hr_total == lr_total == fx["kept"]  # qv >= 20 and no control probes, nothing lost in binning
    genes = (tmp_path / "data/gene_names.txt").read_text().split("\n")
    assert genes == sorted(fx["genes"])
    tiles = np.load(base / "WSI/extract/S1/r0_c0/320_to16.npy")
    assert tiles.shape == (16, 8, 8, 3) and tiles.dtype == np.uint8
    co = np.load(tmp_path / "data/gene_coexpre.npy")
    np.testing.assert_allclose(co * co.T, np.ones_like(co), rtol=1e-5)  # C_ij = S_i / S_j
    # the loader reads what prepare wrote
    p = read_patch(find_patches(base, ["S1"], "HR_ST_32")[0], np.arange(3), 8, 32, 16, 8)
    assert p["hr"].shape == (3, 32, 32)


def test_prepare_visium_reads_spaceranger_outputs(tmp_path: Path, writers: dict) -> None:
    outs = writers["visium"](tmp_path / "outs")
    names = prepare_visium(outs, tmp_path / "data", "V1", lr=8, hr=32, tiles_side=4, tile_size=8)
    assert names == ["r0_c0", "r0_c1", "r1_c0", "r1_c1"]  # 16 x 16 square grid -> 2 x 2 windows of 8 x 8 spots
    spot = np.load(tmp_path / "data/Visium/spot_ST/extract/V1/r0_c0/spot_ST.npy")
    assert spot.shape == (8, 8, 5)
    image = np.load(tmp_path / "data/Visium/WSI/extract/V1/r0_c0/5120_to256.npy")
    assert image.shape == (32, 32, 3)
    # counts are placed on the square grid (array_row, array_col // 2): total counts are kept
    import scanpy as sc

    total = sc.read_10x_h5(outs / "filtered_feature_bc_matrix.h5").X.sum()
    got = sum(np.load(tmp_path / f"data/Visium/spot_ST/extract/V1/{n}/spot_ST.npy").sum() for n in names)
    assert got == total


def test_prepare_transcripts_without_histology_and_a_patch_split_of_one_sample(tmp_path: Path, writers: dict) -> None:
    """MERFISH-style points (x, y, feature_name; bento's parquet), no stain image, the 2 most detected genes; one
    sample split by patch into train and test; the baselines evaluate on it."""
    fx = writers["xenium"](tmp_path / "xen", window=64, n_windows=4)
    df = pd.read_parquet(fx["transcripts"]).rename(columns={"x_location": "x", "y_location": "y"})
    df[["x", "y", "feature_name"]].to_parquet(tmp_path / "points.parquet")
    names = prepare_xenium(
        tmp_path / "points.parquet",
        None,
        None,
        tmp_path / "data",
        "S",
        window=64,
        lr=8,
        hr=32,
        tile_px=16,
        tile_size=8,
        pixel_size=0.5,
        columns=("x", "y", "feature_name"),
        top_genes=2,
    )
    assert len(names) == 4
    assert len((tmp_path / "data/gene_names.txt").read_text().split("\n")) == 2
    dm = DiffSTDataModule(
        dataset="official_npy",
        root=str(tmp_path / "data"),
        train_samples=["S"],
        test_samples=["S"],
        hr_name="HR_ST_32",
        genes=2,
        lr_size=8,
        hr_size=32,
    )
    res = evaluate_baselines(dm)
    train_names = {f.name for f in dm.splits["train"].files} | {f.name for f in dm.splits["val"].files}
    assert [f.name for f in dm.splits["test"].files] == ["S/r0_c3"] and "S/r0_c3" not in train_names
    assert res["patches"]["n"] == 1 and -1 <= res["bicubic"]["pcc"] <= 1
