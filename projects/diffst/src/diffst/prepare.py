"""``diffst prepare xenium|visium``: raw 10x outputs -> the official per-patch layout (:mod:`diffst.official`).

The authors did not release their preprocessing; this is our reconstruction of it (README, "Deviations"):

* **xenium**: transcripts (``transcripts.parquet`` or ``.csv.gz``: x_location, y_location in um, feature_name, qv)
  are mapped into the H&E image through the alignment matrix (3 x 3, H&E pixel -> Xenium morphology pixel, as
  Xenium Explorer exports it; morphology pixel = um / ``pixel_size``), filtered (qv >= ``min_qv``, control probes
  dropped), and binned per non-overlapping ``window`` x ``window`` H&E window into an ``lr`` x ``lr`` pseudo-spot map
  (spot_ST.npy) and an ``hr`` x ``hr`` map (HR_ST_<hr>.npy); the window is resized to hr x hr (5120_to256.npy) and cut
  into (window / tile_px)^2 tiles, each resized to tile_size x tile_size and sorted by ascending Shannon entropy
  (320_to16.npy). Root files: gene_names.txt, gene_totals.npy (accumulated over prepared samples), gene_order.npy
  (descending totals) and gene_coexpre.npy (C_ij = S_i / S_j).
* **visium**: ``filtered_feature_bc_matrix.h5`` (read with scanpy), ``spatial/tissue_positions.csv`` (or the older
  ``tissue_positions_list.csv`` without header), ``spatial/scalefactors_json.json`` and the H&E image (default the
  hires PNG, scaled by tissue_hires_scalef). The hexagonal grid becomes square as (array_row, array_col // 2)
  (78 x 64 spots); non-overlapping lr x lr windows of it are the patches (no HR truth); each window's image is the
  pixel box spanned by its spots (fitted from the spot pixel coordinates).

Patch folders are named ``r<row>_c<col>`` (window grid position), which ``predict`` uses for the AnnData coordinates.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from PIL import Image

from diffst.synthetic import entropy_order
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError

__all__ = ["main", "prepare_visium", "prepare_xenium", "write_root_files"]

log = logging.getLogger(__name__)

CONTROL_PREFIXES = ("NegControl", "BLANK", "Unassigned", "DeprecatedCodeword", "antisense", "Intergenic", "Negative")


def _read_image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataNotFoundError("H&E image", path.parent, missing=[path.name])
    Image.MAX_IMAGE_PIXELS = None  # whole-slide H&E images exceed PIL's decompression-bomb default
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as err:
        raise DataFormatError(
            path, f"not a readable image ({type(err).__name__})", expected="an RGB TIFF/PNG/JPEG"
        ) from None


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))


def histology(window: np.ndarray, hr: int, tile_px: int, tile_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A square RGB window -> (hr, hr, 3) tissue image and (N, t, t, 3) entropy-sorted tiles (ascending)."""
    side = window.shape[0] // tile_px
    tiles = [
        window[i * tile_px : (i + 1) * tile_px, j * tile_px : (j + 1) * tile_px]
        for i in range(side)
        for j in range(side)
    ]
    tiles_arr = np.stack(tiles)
    order = entropy_order(tiles_arr)
    small = np.stack([_resize(t, tile_size) for t in tiles_arr[order]])
    return _resize(window, hr).astype(np.uint8), small.astype(np.uint8)


def _save(folder: Path, name: str, arr: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / name, arr)


def write_root_files(out: Path, genes: Sequence[str], totals: np.ndarray) -> None:
    """gene_names.txt, gene_totals.npy (summed with a previous sample of the same panel), gene_order.npy and
    gene_coexpre.npy (C_ij = S_i / S_j, the official ratio form)."""
    out.mkdir(parents=True, exist_ok=True)
    names_file, totals_file = out / "gene_names.txt", out / "gene_totals.npy"
    totals = np.asarray(totals, dtype=np.float64)
    if names_file.is_file() and totals_file.is_file() and names_file.read_text().split("\n") == list(genes):
        totals = totals + np.load(totals_file)
    names_file.write_text("\n".join(genes))
    np.save(totals_file, totals)
    np.save(out / "gene_order.npy", np.argsort(-totals, kind="stable").astype(np.int64))
    s = np.clip(totals, 1e-8, None)
    np.save(out / "gene_coexpre.npy", (s[:, None] / s[None, :]).astype(np.float32))


def _read_transcripts(
    path: Path, columns: tuple[str, str, str] = ("x_location", "y_location", "feature_name")
) -> pd.DataFrame:
    if not path.is_file():
        raise DataNotFoundError(
            "xenium", path.parent, missing=[path.name], expected=["transcripts.parquet (or transcripts.csv.gz)"]
        )
    try:
        df = pq.read_table(path).to_pandas() if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:
        raise DataFormatError(
            path,
            f"not a readable transcripts table ({type(err).__name__})",
            expected="Xenium transcripts.parquet / .csv.gz",
        ) from None
    need = set(columns)
    if not need <= set(df.columns):
        raise DataFormatError(path, f"columns {sorted(df.columns)[:8]}", expected=f"the columns {sorted(need)}")
    df = df.rename(columns=dict(zip(columns, ("x_location", "y_location", "feature_name"))))
    df["feature_name"] = df["feature_name"].map(lambda v: v.decode() if isinstance(v, bytes) else str(v))
    return df


def prepare_xenium(
    transcripts: Path,
    image: Path | None,
    alignment: Path | None,
    out: Path,
    sample: str,
    *,
    window: int = 5120,
    lr: int = 26,
    hr: int = 256,
    tile_px: int = 320,
    tile_size: int = 16,
    pixel_size: float = 0.2125,
    min_qv: float = 20.0,
    min_transcripts: int = 1,
    columns: tuple[str, str, str] = ("x_location", "y_location", "feature_name"),
    top_genes: int | None = None,
) -> list[str]:
    """Write one Xenium sample in the official layout under ``out/Xenium``; returns the patch names."""
    df = _read_transcripts(transcripts, columns)
    df = df[~df["feature_name"].str.startswith(CONTROL_PREFIXES)]
    if "qv" in df.columns:
        df = df[df["qv"] >= min_qv]
    genes = sorted(df["feature_name"].unique())
    if top_genes is not None:  # keep the most detected genes (a panel subset), in name order
        genes = sorted(df["feature_name"].value_counts().index[:top_genes])
        df = df[df["feature_name"].isin(genes)]
    if not genes:
        raise DataFormatError(transcripts, "no gene transcripts left after the qv and control-probe filters")
    if image is not None:
        img = _read_image(image)
    else:  # no histology (e.g. MERFISH without a stain): a blank image over the transcripts' extent
        extent = np.ceil(df[["y_location", "x_location"]].max().to_numpy() / pixel_size / window).astype(int) * window
        img = np.full((*extent, 3), 255, dtype=np.uint8)
    m = np.eye(3)
    if alignment is not None:
        try:
            m = np.loadtxt(alignment, delimiter=",").reshape(3, 3)
        except Exception:
            raise DataFormatError(
                alignment, "not a 3 x 3 comma-separated matrix", expected="the H&E -> morphology alignment CSV"
            ) from None
    px = np.stack(
        [df["x_location"].to_numpy() / pixel_size, df["y_location"].to_numpy() / pixel_size, np.ones(len(df))]
    )
    he = np.linalg.inv(m) @ px  # (3, n) H&E pixel (x, y, 1)
    gidx = pd.Categorical(df["feature_name"], categories=genes).codes
    x, y = he[0], he[1]
    rows, cols = img.shape[0] // window, img.shape[1] // window
    if rows == 0 or cols == 0:
        raise DataFormatError(
            image or transcripts,
            f"size {img.shape[1]} x {img.shape[0]} px",
            expected=f"at least one {window} px window",
        )
    base = out / "Xenium"
    totals = np.zeros(len(genes))
    names = []
    for r in range(rows):
        for c in range(cols):
            lx, ly = x - c * window, y - r * window
            inside = (lx >= 0) & (lx < window) & (ly >= 0) & (ly < window)
            if inside.sum() < min_transcripts:
                continue
            name = f"r{r}_c{c}"
            g = gidx[inside]
            maps = {}
            for n in (lr, hr):
                bx = np.minimum((lx[inside] * n / window).astype(np.int64), n - 1)
                by = np.minimum((ly[inside] * n / window).astype(np.int64), n - 1)
                arr = np.zeros((n, n, len(genes)), dtype=np.float32)
                np.add.at(arr, (by, bx, g), 1.0)
                maps[n] = arr
            totals += maps[hr].sum(axis=(0, 1))
            tissue, tiles = histology(
                img[r * window : (r + 1) * window, c * window : (c + 1) * window], hr, tile_px, tile_size
            )
            _save(base / "spot_ST" / "extract" / sample / name, "spot_ST.npy", maps[lr])
            _save(base / "HR_ST" / "extract" / sample / name, f"HR_ST_{hr}.npy", maps[hr])
            _save(base / "WSI" / "extract" / sample / name, "5120_to256.npy", tissue)  # the official names
            _save(base / "WSI" / "extract" / sample / name, "320_to16.npy", tiles)
            names.append(name)
    write_root_files(out, genes, totals)
    log.info("xenium %s: %d patches of %d genes written under %s", sample, len(names), len(genes), base)
    return names


def _positions(spatial: Path) -> pd.DataFrame:
    cols = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
    new, old = spatial / "tissue_positions.csv", spatial / "tissue_positions_list.csv"
    if new.is_file():
        df = pd.read_csv(new)
    elif old.is_file():
        df = pd.read_csv(old, header=None, names=cols)
    else:
        raise DataNotFoundError(
            "visium",
            spatial,
            missing=["tissue_positions.csv"],
            expected=["tissue_positions.csv", "scalefactors_json.json", "tissue_hires_image.png"],
        )
    if not set(cols) <= set(df.columns):
        raise DataFormatError(new if new.is_file() else old, f"columns {list(df.columns)}", expected=f"columns {cols}")
    return df.set_index("barcode")


def prepare_visium(
    spaceranger: Path,
    out: Path,
    sample: str,
    *,
    image: Path | None = None,
    image_scale: float | None = None,
    lr: int = 26,
    hr: int = 256,
    tiles_side: int = 16,
    tile_size: int = 16,
    genes_from: Path | None = None,
    top_genes: int = 300,
) -> list[str]:
    """Write one Visium sample (spot maps + histology, no HR truth) under ``out/Visium``; returns the patch names."""
    import scanpy as sc

    h5 = spaceranger / "filtered_feature_bc_matrix.h5"
    if not h5.is_file():
        raise DataNotFoundError(
            "visium",
            spaceranger,
            missing=[h5.name],
            expected=["filtered_feature_bc_matrix.h5", {"spatial": ["tissue_positions.csv"]}],
        )
    try:
        adata = sc.read_10x_h5(h5)
    except Exception as err:
        raise DataFormatError(h5, f"not a 10x feature-barcode HDF5 matrix ({type(err).__name__})") from None
    adata.var_names_make_unique()
    spatial = spaceranger / "spatial"
    pos = _positions(spatial)
    scale_file = spatial / "scalefactors_json.json"
    if not scale_file.is_file():
        raise DataNotFoundError("visium", spatial, missing=[scale_file.name])
    scalef = json.loads(scale_file.read_text())
    if image is None:
        image, image_scale = spatial / "tissue_hires_image.png", float(scalef["tissue_hires_scalef"])
    img = _read_image(image)
    scale = 1.0 if image_scale is None else image_scale
    counts = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    names_all = list(adata.var_names)
    if genes_from is not None:
        wanted = [g for g in genes_from.read_text().split("\n") if g]
        index = {g: i for i, g in enumerate(names_all)}
        sel = [index.get(g, -1) for g in wanted]
        if all(i < 0 for i in sel):
            raise DataFormatError(h5, "none of the genes listed in " + str(genes_from), expected="the same gene names")
        counts = np.stack([counts[:, i] if i >= 0 else np.zeros(len(counts)) for i in sel], axis=1)
        genes = wanted
    else:
        keep = np.argsort(-counts.sum(axis=0), kind="stable")[:top_genes]
        counts, genes = counts[:, keep], [names_all[i] for i in keep]
    p = pos.loc[adata.obs_names]
    grid_r, grid_c = p["array_row"].to_numpy(), p["array_col"].to_numpy() // 2
    n_rows, n_cols = int(pos["array_row"].max()) + 1, int(pos["array_col"].max()) // 2 + 1
    grid = np.zeros((n_rows, n_cols, len(genes)), dtype=np.float32)
    grid[grid_r, grid_c] = counts
    # full-res pixel of a grid cell (row, col): least-squares affine fit over the spots
    design = np.stack([pos["array_row"], pos["array_col"] // 2, np.ones(len(pos))], axis=1).astype(np.float64)
    coef_y = np.linalg.lstsq(design, pos["pxl_row_in_fullres"].to_numpy(float), rcond=None)[0]
    coef_x = np.linalg.lstsq(design, pos["pxl_col_in_fullres"].to_numpy(float), rcond=None)[0]
    base = out / "Visium"
    names = []
    for r0 in range(0, n_rows - lr + 1, lr):
        for c0 in range(0, n_cols - lr + 1, lr):
            spot = grid[r0 : r0 + lr, c0 : c0 + lr]
            if not spot.any():
                continue
            corners = np.array([[r0 - 0.5, c0 - 0.5, 1], [r0 + lr - 0.5, c0 + lr - 0.5, 1]])
            ys, xs = corners @ coef_y * scale, corners @ coef_x * scale
            y0, y1 = sorted(round(float(v)) for v in ys)
            x0, x1 = sorted(round(float(v)) for v in xs)
            side = max(y1 - y0, x1 - x0, tiles_side)
            side -= side % tiles_side
            crop = np.zeros((side, side, 3), dtype=np.uint8)
            src = img[max(y0, 0) : max(y0, 0) + side, max(x0, 0) : max(x0, 0) + side]
            crop[: src.shape[0], : src.shape[1]] = src
            tissue, tiles = histology(crop, hr, side // tiles_side, tile_size)
            name = f"r{r0 // lr}_c{c0 // lr}"
            _save(base / "spot_ST" / "extract" / sample / name, "spot_ST.npy", spot)
            _save(base / "WSI" / "extract" / sample / name, "5120_to256.npy", tissue)
            _save(base / "WSI" / "extract" / sample / name, "320_to16.npy", tiles)
            names.append(name)
    (base / "gene_names.txt").write_text("\n".join(genes))
    log.info("visium %s: %d patches of %d genes written under %s", sample, len(names), len(genes), base)
    return names


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="diffst prepare", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="kind", required=True)
    x = sub.add_parser("xenium", help="10x Xenium outputs -> official layout")
    x.add_argument("--transcripts", type=Path, required=True, help="transcripts.parquet or transcripts.csv.gz")
    x.add_argument("--image", type=Path, default=None, help="the post-Xenium H&E image (none: a blank image)")
    x.add_argument(
        "--columns",
        nargs=3,
        default=["x_location", "y_location", "feature_name"],
        help="x, y and gene columns of the transcripts table (MERFISH/bento: x y feature_name)",
    )
    x.add_argument("--top-genes", type=int, default=None, help="keep only the most detected genes")
    x.add_argument("--alignment", type=Path, default=None, help="3x3 H&E -> morphology alignment CSV")
    v = sub.add_parser("visium", help="spaceranger outputs -> official layout (no HR)")
    v.add_argument("--spaceranger", type=Path, required=True, help="the spaceranger outs/ folder")
    v.add_argument("--image", type=Path, default=None, help="H&E image (default spatial/tissue_hires_image.png)")
    v.add_argument("--image-scale", type=float, default=None, help="image px per full-res px (default hires scalef)")
    v.add_argument("--genes-from", type=Path, default=None, help="gene_names to keep, one per line, in order")
    v.add_argument("--top-genes", type=int, default=300)
    v.add_argument("--tiles-side", type=int, default=16)
    for q in (x, v):
        q.add_argument("--out", type=Path, required=True, help="the data root (data.root)")
        q.add_argument("--sample", required=True)
        q.add_argument("--lr", type=int, default=26)
        q.add_argument("--hr", type=int, default=256)
        q.add_argument("--tile-size", type=int, default=16)
    x.add_argument("--window", type=int, default=5120)
    x.add_argument("--tile-px", type=int, default=320)
    x.add_argument("--pixel-size", type=float, default=0.2125)
    x.add_argument("--min-qv", type=float, default=20.0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if a.kind == "xenium":
            prepare_xenium(
                a.transcripts,
                a.image,
                a.alignment,
                a.out,
                a.sample,
                window=a.window,
                lr=a.lr,
                hr=a.hr,
                tile_px=a.tile_px,
                tile_size=a.tile_size,
                pixel_size=a.pixel_size,
                min_qv=a.min_qv,
                columns=tuple(a.columns),
                top_genes=a.top_genes,
            )
        else:
            prepare_visium(
                a.spaceranger,
                a.out,
                a.sample,
                image=a.image,
                image_scale=a.image_scale,
                lr=a.lr,
                hr=a.hr,
                tiles_side=a.tiles_side,
                tile_size=a.tile_size,
                genes_from=a.genes_from,
                top_genes=a.top_genes,
            )
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
