"""The embedded synthetic tissue (no download): cell-type regions with sharp boundaries and islands smaller than one
low-resolution spot, a fake H&E image showing them, co-expressed gene modules, and the spot map as the block mean of
the high-resolution map.

Per patch (seeded NumPy):

* labels: argmax of K = 4 Gaussian-smoothed noise fields on the HR grid, plus a few islands (discs of diameter below
  the LR spot pitch) of a random type: invisible in the spot map, visible in the histology;
* H&E at 4x the HR resolution: a per-type eosin background, per-type nuclei (disc radius, density, hematoxylin hue),
  stroma streaks in one type; tissue image = 4x4 block mean (HR size), cell tiles = a sqrt(N) x sqrt(N) grid of tiles
  each block-averaged to t x t and sorted by ascending Shannon entropy (mirrors 5120 -> 256 and 320 -> 16 px);
* genes in 3 co-expression modules: rate_g = sum_k A_gk 1[type = k] (0.5 + density) + a smooth gradient + noise shared
  by the module; HR counts ~ Poisson(counts_scale * rate); LR = s x s block mean of HR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["SyntheticTissue", "entropy_order", "make_patches"]

K = 4
# per type: eosin background RGB, nucleus RGB, nucleus radius (px at 4x), nucleus density (per px at 4x)
_BACKGROUND = np.array([[236, 170, 200], [225, 140, 185], [245, 200, 215], [215, 120, 160]], dtype=np.float32)
_NUCLEUS = np.array([[70, 40, 120], [40, 30, 90], [110, 70, 150], [60, 30, 70]], dtype=np.float32)
_RADIUS = (3, 2, 4, 1)
_DENSITY = (0.012, 0.03, 0.004, 0.02)


@dataclass(frozen=True)
class SyntheticTissue:
    genes: int = 8
    lr_size: int = 8
    hr_size: int = 32
    tile_size: int = 8
    n_tiles: int = 16
    region_sigma: float = 0.1  # smoothing of the type fields, as a fraction of the HR size
    islands: int = 4
    counts_scale: float = 20.0

    def __post_init__(self) -> None:
        if self.hr_size % self.lr_size:
            raise ValueError(f"hr_size ({self.hr_size}) must be a multiple of lr_size ({self.lr_size})")
        side = round(self.n_tiles**0.5)
        if side * side != self.n_tiles or (4 * self.hr_size) % side or (4 * self.hr_size // side) % self.tile_size:
            raise ValueError(f"n_tiles ({self.n_tiles}) must be a square whose tiles divide 4 * hr_size evenly")

    @property
    def scale(self) -> int:
        return self.hr_size // self.lr_size


def _disc(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= r * r + 0.5


def _block_mean(x: np.ndarray, f: int) -> np.ndarray:
    """(..., H, W) -> (..., H/f, W/f)."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // f, f, w // f, f).mean(axis=(-3, -1))


def entropy_order(tiles: np.ndarray, bins: int = 32) -> np.ndarray:
    """Ascending Shannon entropy of each tile's grey-level histogram: (N, h, w, 3) uint8 -> (N,) order."""
    grey = tiles.astype(np.float32).mean(axis=-1).reshape(len(tiles), -1)  # (N, hw)
    q = np.clip((grey * bins / 256).astype(np.int64), 0, bins - 1)
    counts = (q[..., None] == np.arange(bins)).sum(axis=1)  # (N, bins)
    p = counts / counts.sum(axis=1, keepdims=True)
    ent = -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)).sum(axis=1)
    return np.argsort(ent, kind="stable")


def _modules(rng: np.random.Generator, genes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gene -> module (3 modules) and loadings A (G, K): each module is high in one or two cell types."""
    module = np.arange(genes) % 3
    profiles = np.array([[1.0, 0.6, 0.05, 0.1], [0.05, 0.1, 1.0, 0.2], [0.1, 0.05, 0.3, 1.0]])
    a = profiles[module] * rng.uniform(0.7, 1.3, size=(genes, 1))
    return module, a


def _patch(rng: np.random.Generator, cfg: SyntheticTissue, module: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
    h, big = cfg.hr_size, 4 * cfg.hr_size
    fields = ndimage.gaussian_filter(
        rng.standard_normal((K, h, h)), sigma=(0, cfg.region_sigma * h, cfg.region_sigma * h)
    )
    labels = fields.argmax(axis=0)
    yy, xx = np.mgrid[0:h, 0:h]
    for _ in range(cfg.islands):  # islands narrower than one spot (diameter < scale)
        cy, cx = rng.uniform(0, h, size=2)
        r = rng.uniform(0.5, max(0.6, cfg.scale / 2 - 0.5))
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rng.integers(K)
    big_labels = np.kron(labels, np.ones((4, 4), dtype=labels.dtype))  # (4H, 4H)
    img = _BACKGROUND[big_labels] + rng.normal(0, 6, size=(big, big, 3))
    stroma = big_labels == 3
    streak = (np.sin(np.arange(big)[:, None] * 0.7 + np.arange(big)[None] * 0.3) > 0.6)[..., None]
    img = np.where(stroma[..., None] & streak, img * 0.85, img)
    nuclei = np.zeros((big, big), dtype=bool)
    for k in range(K):
        centres = (rng.random((big, big)) < _DENSITY[k]) & (big_labels == k)
        mask = ndimage.binary_dilation(centres, structure=_disc(_RADIUS[k]))
        img[mask] = _NUCLEUS[k] + rng.normal(0, 8, size=(int(mask.sum()), 3))
        nuclei |= mask
    img = np.clip(img, 0, 255).astype(np.uint8)  # (4H, 4H, 3)
    density = ndimage.gaussian_filter(_block_mean(nuclei.astype(np.float32), 4), 1.0)  # (H, H)
    density = density / max(float(density.max()), 1e-6)
    onehot = labels[None] == np.arange(K)[:, None, None]  # (K, H, H)
    rate = np.einsum("gk,khw->ghw", a, onehot * (0.5 + density)[None])
    direction = rng.normal(size=2)
    grad = (yy * direction[0] + xx * direction[1]) / h
    rate += 0.15 * (grad - grad.min())[None]
    shared = ndimage.gaussian_filter(rng.standard_normal((3, h, h)), sigma=(0, 2, 2))
    rate = np.clip(rate + 0.3 * shared[module], 0, None)
    hr = rng.poisson(cfg.counts_scale * rate).astype(np.float32)  # (G, H, H)
    lr = _block_mean(hr, cfg.scale)  # (G, L, L)
    side = round(cfg.n_tiles**0.5)
    tp = big // side
    tiles = img.reshape(side, tp, side, tp, 3).transpose(0, 2, 1, 3, 4).reshape(cfg.n_tiles, tp, tp, 3)
    order = entropy_order(tiles)
    f = tp // cfg.tile_size
    small = tiles.reshape(cfg.n_tiles, cfg.tile_size, f, cfg.tile_size, f, 3).mean(axis=(2, 4))
    return {
        "hr": hr,
        "lr": lr,
        "image": _block_mean(img.transpose(2, 0, 1).astype(np.float32), 4).round().astype(np.uint8),  # (3, H, H)
        "tiles": small[order].transpose(0, 3, 1, 2).round().astype(np.uint8),  # (N, 3, t, t)
        "labels": labels.astype(np.int8),
    }


def make_patches(cfg: SyntheticTissue, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` patches (stacked arrays: hr (n,G,H,H) counts, lr (n,G,L,L), image (n,3,H,H) uint8, tiles (n,N,3,t,t)
    uint8, labels (n,H,H)); the gene modules depend on ``seed`` only through a fixed stream, so train and test share
    them."""
    module, a = _modules(np.random.default_rng(12345), cfg.genes)
    rng = np.random.default_rng(seed)
    patches = [_patch(rng, cfg, module, a) for _ in range(n)]
    return {k: np.stack([p[k] for p in patches]) for k in patches[0]}
