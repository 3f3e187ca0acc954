"""The preprocessed per-patch layout the official Diff-ST code reads (``official_npy``), and the gene graph.

::

    <root>/gene_order.npy                       gene indices by total HR expression, descending (the first G are used)
    <root>/gene_coexpre.npy                     (G_tot, G_tot) co-expression ratios C_ij = S_i / S_j
    <root>/<Xenium>/HR_ST/extract/<sample>/<patch>/HR_ST_256.npy    (H, H, G_tot) (or HR_ST_128.npy: H/2 x H/2)
    <root>/<Xenium>/spot_ST/extract/<sample>/<patch>/spot_ST.npy    (L, L, G_tot)
    <root>/<Xenium>/WSI/extract/<sample>/<patch>/5120_to256.npy     (H, H, 3) uint8
    <root>/<Xenium>/WSI/extract/<sample>/<patch>/320_to16.npy       (N, t, t, 3) uint8, entropy-sorted tiles

Maps are min-max scaled to [0, 1] per patch and gene (all-zero maps stay zero), as the official loader does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["EXPECTED", "PatchFiles", "adjacency", "find_patches", "load_array", "minmax_np", "read_patch"]

EXPECTED = {
    "gene_order.npy": None,
    "gene_coexpre.npy": None,
    "Xenium": {
        "HR_ST": {"extract": {"<sample>": {"<patch>": ["HR_ST_256.npy"]}}},
        "spot_ST": {"extract": {"<sample>": {"<patch>": ["spot_ST.npy"]}}},
        "WSI": {"extract": {"<sample>": {"<patch>": ["5120_to256.npy", "320_to16.npy"]}}},
    },
}
SOURCE = "the Diff-ST authors' Xenium.zip (Hugging Face dataset Zeiler123/C3-Diff), or `diffst prepare xenium|visium`"


def load_array(path: Path, shape: Sequence[int | None], what: str) -> np.ndarray:
    """np.load with one-paragraph errors: missing file, undecodable file, wrong shape (None = any size), NaNs."""
    if not path.is_file():
        raise DataNotFoundError("official_npy", path.parent, missing=[path.name], expected=EXPECTED, source=SOURCE)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # numpy raises ValueError / OSError / UnpicklingError on garbage
        raise DataFormatError(path, f"not a NumPy .npy array ({type(err).__name__})", expected=what) from None
    want = " x ".join("*" if s is None else str(s) for s in shape)
    if arr.ndim != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape)):
        raise DataFormatError(path, f"shape {tuple(arr.shape)}", expected=f"{what} of shape ({want})")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(np.asarray(arr)).all():
        raise DataFormatError(path, "the array contains NaN or infinite values", expected=f"finite {what}")
    return arr


def minmax_np(x: np.ndarray) -> np.ndarray:
    """Per-gene min-max of a (G, h, w) map to [0, 1]; constant maps become 0 (all-zero maps are untouched)."""
    x = x.astype(np.float32)
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    return np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0).astype(np.float32)


class PatchFiles:
    """The files of one patch: ``spot`` (required), ``hr`` (None on external sets without HR truth), WSI pair."""

    def __init__(self, spot: Path, hr: Path | None, image: Path, tiles: Path, name: str) -> None:
        self.spot, self.hr, self.image, self.tiles, self.name = spot, hr, image, tiles, name


def _sibling(spot: Path, kind: str, filename: str) -> Path:
    parts = list(spot.parent.parts)
    i = len(parts) - 1 - parts[::-1].index("spot_ST")
    parts[i] = kind
    return Path(*parts, filename)


def patch_files(spot: Path, hr_name: str | None) -> PatchFiles:
    """The sibling files of a ``.../spot_ST/extract/<sample>/<patch>/spot_ST.npy`` file."""
    if "spot_ST" not in spot.parent.parts:
        raise DataFormatError(
            spot,
            "not inside a spot_ST/extract/<sample>/<patch>/ folder",
            expected="the official layout " + "<data>/spot_ST/extract/<sample>/<patch>/spot_ST.npy",
        )
    hr = _sibling(spot, "HR_ST", f"{hr_name}.npy") if hr_name else None
    name = f"{spot.parent.parent.name}/{spot.parent.name}"
    return PatchFiles(spot, hr, _sibling(spot, "WSI", "5120_to256.npy"), _sibling(spot, "WSI", "320_to16.npy"), name)


def find_patches(data_dir: Path, samples: Sequence[str], hr_name: str | None) -> list[PatchFiles]:
    """Every patch of ``samples`` under ``data_dir/spot_ST/extract`` (sorted)."""
    out = []
    for sample in samples:
        folder = data_dir / "spot_ST" / "extract" / sample
        spots = sorted(folder.glob("*/spot_ST.npy"))
        if not spots:
            raise DataNotFoundError(
                "official_npy",
                data_dir.parent,
                missing=[str(folder / "<patch>/spot_ST.npy")],
                expected=EXPECTED,
                source=SOURCE,
            )
        out.extend(patch_files(s, hr_name) for s in spots)
    return out


def read_patch(
    files: PatchFiles, genes: np.ndarray, lr_size: int, hr_size: int, n_tiles: int, tile_size: int
) -> dict[str, np.ndarray]:
    """One patch as model inputs: hr (G, H, H) and lr (G, L, L) in [0, 1], image (3, H, H) and tiles (N, 3, t, t)
    uint8. ``genes`` indexes the last axis of the files (G_tot genes). An HR_ST_128 target is nearest-upsampled."""
    g_need = int(genes.max()) + 1
    spot = load_array(files.spot, (lr_size, lr_size, None), "a spot map (L, L, genes)")
    if spot.shape[-1] < g_need:
        raise DataFormatError(files.spot, f"{spot.shape[-1]} genes", expected=f"at least {g_need} genes (gene_order)")
    lr = minmax_np(np.asarray(spot[..., genes]).transpose(2, 0, 1))
    image = load_array(files.image, (hr_size, hr_size, 3), "a uint8 tissue image (H, H, 3)")
    tiles = load_array(files.tiles, (n_tiles, tile_size, tile_size, 3), "uint8 cell tiles (N, t, t, 3)")
    out = {
        "lr": lr,
        "image": np.asarray(image).transpose(2, 0, 1).astype(np.uint8),
        "tiles": np.asarray(tiles).transpose(0, 3, 1, 2).astype(np.uint8),
    }
    if files.hr is not None:
        half = files.hr.name.endswith("_128.npy")
        side = hr_size // 2 if half else hr_size
        arr = load_array(files.hr, (side, side, None), "an HR map (H, H, genes)")
        if arr.shape[-1] < g_need:
            raise DataFormatError(files.hr, f"{arr.shape[-1]} genes", expected=f"at least {g_need} genes")
        hr = np.asarray(arr[..., genes]).transpose(2, 0, 1)
        if half:  # the x5 task: nearest-upsampled 128 -> 256 before diffusion (official code)
            hr = hr.repeat(2, axis=1).repeat(2, axis=2)
        out["hr"] = minmax_np(hr)
    return out


def adjacency(
    mode: str,
    totals: np.ndarray | None = None,
    coexpre: np.ndarray | None = None,
    maps: np.ndarray | None = None,
    threshold: float = 0.3,
) -> np.ndarray:
    """The gene-correlation graph A (G, G), symmetric.

    ``ratio_max`` (official): C_ij = S_i / S_j from total expressions S (or a given ``coexpre`` matrix), A =
    max(C, C^T) (dense, >= 1, no threshold). ``pearson_threshold``: A = 1[r_ij >= threshold] with self-loops, r the
    Pearson correlation of the genes over all HR pixels of ``maps`` (n, G, H, W), normalised D^-1/2 A D^-1/2."""
    if mode == "ratio_max":
        if coexpre is None:
            s = np.asarray(totals, dtype=np.float64).clip(min=1e-8)
            coexpre = s[:, None] / s[None, :]
        c = np.asarray(coexpre, dtype=np.float64)
        return np.maximum(c, c.T).astype(np.float32)
    if mode == "pearson_threshold":
        x = np.asarray(maps, dtype=np.float64).transpose(1, 0, 2, 3).reshape(np.shape(maps)[1], -1)
        r = np.nan_to_num(np.corrcoef(x), nan=0.0)
        a = (r >= threshold).astype(np.float64)
        np.fill_diagonal(a, 1.0)
        d = 1.0 / np.sqrt(a.sum(axis=1))
        return (d[:, None] * a * d[None, :]).astype(np.float32)
    raise ValueError(f"unknown adjacency mode {mode!r}")
