"""Fixtures that write small data sets in the exact on-disk formats diffst reads: the official per-patch npy layout,
10x Xenium outputs (transcripts.parquet / .csv.gz, H&E image, alignment CSV) and spaceranger outputs
(filtered_feature_bc_matrix.h5 in the 10x HDF5 schema, spatial/tissue_positions.csv, scalefactors_json.json, hires PNG).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from PIL import Image

# the tiny official-layout geometry used by the tests: L 8 -> H 32, 16 tiles of 8 x 8, 6 genes in the files
SIZES = {"lr": 8, "hr": 32, "n_tiles": 16, "tile": 8, "genes_total": 6}


def write_official(root: Path, samples: dict[str, int], *, seed: int = 0, hr_name: str = "HR_ST_256") -> Path:
    """``samples`` = {name: n_patches}; returns ``root``."""
    rng = np.random.default_rng(seed)
    g, lr, hr, n, t = SIZES["genes_total"], SIZES["lr"], SIZES["hr"], SIZES["n_tiles"], SIZES["tile"]
    totals = np.zeros(g)
    for sample, count in samples.items():
        for p in range(count):
            name = f"r0_c{p}"
            hr_map = rng.poisson(3.0, size=(hr, hr, g)).astype(np.float32)
            totals += hr_map.sum(axis=(0, 1))
            spot = hr_map.reshape(lr, hr // lr, lr, hr // lr, g).mean(axis=(1, 3))
            base = root / "Xenium"
            for kind, file, arr in [
                ("HR_ST", f"{hr_name}.npy", hr_map if hr_name.endswith("256") else hr_map[::2, ::2]),
                ("spot_ST", "spot_ST.npy", spot),
                ("WSI", "5120_to256.npy", rng.integers(0, 255, size=(hr, hr, 3), dtype=np.uint8)),
                ("WSI", "320_to16.npy", rng.integers(0, 255, size=(n, t, t, 3), dtype=np.uint8)),
            ]:
                folder = base / kind / "extract" / sample / name
                folder.mkdir(parents=True, exist_ok=True)
                np.save(folder / file, arr)
    np.save(root / "gene_order.npy", np.argsort(-totals))
    s = totals.clip(min=1)
    np.save(root / "gene_coexpre.npy", (s[:, None] / s[None, :]).astype(np.float32))
    return root


def write_xenium(folder: Path, *, fmt: str = "parquet", window: int = 64, n_windows: int = 2, seed: int = 0) -> dict:
    """A Xenium-like output: transcripts in um, an H&E PNG of n_windows x 1 windows, and an alignment CSV that
    scales H&E pixels by 2 (H&E px -> morphology px)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h_px, w_px = window, window * n_windows
    img = rng.integers(0, 255, size=(h_px, w_px, 3), dtype=np.uint8)
    Image.fromarray(img).save(folder / "he.png")
    m = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1]])  # H&E px -> morphology px
    np.savetxt(folder / "he_imagealignment.csv", m, delimiter=",")
    n = 3000
    he_x, he_y = rng.uniform(0, w_px, n), rng.uniform(0, h_px, n)
    genes = np.array(["EPCAM", "ERBB2", "CD3E", "NegControlProbe_1", "KRT7"])
    names = genes[rng.integers(0, len(genes), n)]
    qv = rng.uniform(10, 40, n)
    df = pd.DataFrame(
        {
            "transcript_id": np.arange(n),
            "x_location": he_x * 2 * 0.2125,
            "y_location": he_y * 2 * 0.2125,
            "z_location": 0.0,
            "feature_name": names,
            "qv": qv,
        }
    )
    path = folder / ("transcripts.parquet" if fmt == "parquet" else "transcripts.csv.gz")
    if fmt == "parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False)
    kept = (qv >= 20) & ~pd.Series(names).str.startswith("NegControl").to_numpy()
    return {
        "transcripts": path,
        "image": folder / "he.png",
        "alignment": folder / "he_imagealignment.csv",
        "kept": int(kept.sum()),
        "genes": sorted(set(genes[:3]) | {"KRT7"}),
    }


def write_visium(folder: Path, *, rows: int = 16, cols: int = 32, genes: int = 5, seed: int = 0) -> Path:
    """A spaceranger outs/ folder: the 10x HDF5 matrix (CSC, features group), tissue_positions.csv with header,
    scalefactors_json.json and a hires PNG."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    spots = [(r, c) for r in range(rows) for c in range(r % 2, cols, 2)]  # hexagonal: array_col parity = row parity
    barcodes = [f"AAAC{i:08d}-1" for i in range(len(spots))]
    counts = rng.poisson(2.0, size=(genes, len(spots)))  # features x barcodes

    mat = sp.csc_matrix(counts)
    with h5py.File(folder / "filtered_feature_bc_matrix.h5", "w") as f:
        grp = f.create_group("matrix")
        grp.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
        grp.create_dataset("data", data=mat.data.astype(np.int32))
        grp.create_dataset("indices", data=mat.indices.astype(np.int64))
        grp.create_dataset("indptr", data=mat.indptr.astype(np.int64))
        grp.create_dataset("shape", data=np.array(mat.shape, dtype=np.int32))
        feat = grp.create_group("features")
        feat.create_dataset("id", data=np.array([f"ENSG{i:011d}" for i in range(genes)], dtype="S"))
        feat.create_dataset("name", data=np.array([f"GENE{i}" for i in range(genes)], dtype="S"))
        feat.create_dataset("feature_type", data=np.array(["Gene Expression"] * genes, dtype="S"))
        feat.create_dataset("genome", data=np.array(["GRCh38"] * genes, dtype="S"))
        feat.create_dataset("_all_tag_keys", data=np.array(["genome"], dtype="S"))
    spatial = folder / "spatial"
    spatial.mkdir(exist_ok=True)
    pitch = 10.0  # full-res px per square-grid cell
    pos = pd.DataFrame(
        {
            "barcode": barcodes,
            "in_tissue": 1,
            "array_row": [r for r, _ in spots],
            "array_col": [c for _, c in spots],
            "pxl_row_in_fullres": [int(r * pitch + 5) for r, _ in spots],
            "pxl_col_in_fullres": [int((c // 2) * pitch + 5) for _, c in spots],
        }
    )
    pos.to_csv(spatial / "tissue_positions.csv", index=False)
    scalef = 0.5
    factors = {
        "tissue_hires_scalef": scalef,
        "tissue_lowres_scalef": 0.1,
        "spot_diameter_fullres": 8.0,
        "fiducial_diameter_fullres": 12.0,
    }
    (spatial / "scalefactors_json.json").write_text(json.dumps(factors))
    hires = rng.integers(0, 255, size=(int(rows * pitch * scalef), int(cols // 2 * pitch * scalef), 3), dtype=np.uint8)
    Image.fromarray(hires).save(spatial / "tissue_hires_image.png")
    return folder


@pytest.fixture
def official_root(tmp_path: Path) -> Path:
    return write_official(tmp_path / "official", {"S1": 4, "S2": 2})


@pytest.fixture
def writers() -> dict:
    return {"official": write_official, "xenium": write_xenium, "visium": write_visium, "sizes": SIZES}
