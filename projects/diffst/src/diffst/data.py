"""Data for Diff-ST (Sec. 3, "Datasets"): the embedded synthetic tissue (default), the official preprocessed
per-patch layout (``official_npy``), and users' prepared samples for ``predict``.

A batch is a dict: ``hr`` (B, G, H, H) and ``lr`` (B, G, L, L) in [0, 1] (per patch and gene min-max), ``image``
(B, 3, H, H) and ``tiles`` (B, N, 3, t, t) in [0, 1], ``index`` (B,) the patch number in its split, ``has_hr`` (B,).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from diffst.official import EXPECTED, SOURCE, adjacency, find_patches, load_array, minmax_np, patch_files, read_patch
from diffst.synthetic import SyntheticTissue, make_patches
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["DiffSTDataModule", "OfficialDataset", "PatchArrays"]

log = logging.getLogger(__name__)


def _sample(lr: np.ndarray, image: np.ndarray, tiles: np.ndarray, hr: np.ndarray | None, index: int) -> dict:
    h = image.shape[-1]
    g = lr.shape[0]
    return {
        "hr": torch.from_numpy(hr) if hr is not None else torch.zeros(g, h, h),
        "lr": torch.from_numpy(np.ascontiguousarray(lr)),
        "image": torch.from_numpy(np.ascontiguousarray(image)).float() / 255.0,
        "tiles": torch.from_numpy(np.ascontiguousarray(tiles)).float() / 255.0,
        "index": torch.tensor(index, dtype=torch.long),
        "has_hr": torch.tensor(hr is not None),
    }


class PatchArrays(Dataset):
    """In-memory patches (synthetic); ``histology_perm`` pairs patch i with the histology of patch perm[i]."""

    def __init__(self, arrays: dict[str, np.ndarray], histology_perm: np.ndarray | None = None) -> None:
        self.hr = np.stack([minmax_np(x) for x in arrays["hr"]])
        self.lr = np.stack([minmax_np(x) for x in arrays["lr"]])
        self.image, self.tiles = arrays["image"], arrays["tiles"]
        self.perm = histology_perm if histology_perm is not None else np.arange(len(self.hr))

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> dict:
        j = int(self.perm[i])
        return _sample(self.lr[i], self.image[j], self.tiles[j], self.hr[i], i)


class OfficialDataset(Dataset):
    """Patches in the official layout, read lazily (memory-mapped) with the gene selection ``genes``."""

    def __init__(
        self, files: list, genes: np.ndarray, sizes: tuple[int, int, int, int], perm: np.ndarray | None = None
    ):
        self.files, self.genes, self.sizes = files, genes, sizes
        self.perm = perm if perm is not None else np.arange(len(files))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        lr_size, hr_size, n_tiles, tile_size = self.sizes
        p = read_patch(self.files[i], self.genes, lr_size, hr_size, n_tiles, tile_size)
        if self.perm[i] != i:
            q = read_patch(self.files[int(self.perm[i])], self.genes, lr_size, hr_size, n_tiles, tile_size)
            p["image"], p["tiles"] = q["image"], q["tiles"]
        return _sample(p["lr"], p["image"], p["tiles"], p.get("hr"), i)


class DiffSTDataModule(pl.LightningDataModule):
    """Synthetic tissue or the official npy layout; the gene graph (``adjacency``) is built from the training split.

    Args:
        dataset: ``synthetic`` (embedded, no download) or ``official_npy`` (see :mod:`diffst.official`).
        root: the official layout's root (``gene_order.npy`` and ``<data_dir>/``).
        data_dir: the dataset folder under ``root`` (``Xenium``; ``Visium`` / ``NBME`` have no HR truth).
        hr_name: ``HR_ST_256`` (x10 task) or ``HR_ST_128`` (x5, nearest-upsampled to the HR size); ``diffst
            prepare`` writes ``HR_ST_<hr>``.
        train_samples / test_samples: sample folders; a sample named in both is split by patch (every 4th patch,
            from the 4th, is a test patch).
        genes: G, the first genes of ``gene_order.npy`` (synthetic: the number of genes generated).
        adj_mode: ``ratio_max`` (official co-expression ratios) or ``pearson_threshold`` (``adj_threshold``).
        shuffle_histology: pair every patch with another patch's histology (a fixed permutation, all splits): the
            ablation that removes the information histology carries.
        predict_path: a prepared sample for ``predict``: a ``spot_ST.npy`` file or a folder holding
            ``<patch>/spot_ST.npy`` files (with the WSI files beside them in the official layout).
    """

    def __init__(
        self,
        dataset: Literal["synthetic", "official_npy"] = "synthetic",
        root: str = "data/diffst",
        data_dir: str = "Xenium",
        train_samples: list[str] | None = None,
        val_samples: list[str] | None = None,
        test_samples: list[str] | None = None,
        hr_name: str = "HR_ST_256",
        genes: int = 8,
        lr_size: int = 8,
        hr_size: int = 32,
        tile_size: int = 8,
        n_tiles: int = 16,
        adj_mode: Literal["ratio_max", "pearson_threshold"] = "ratio_max",
        adj_threshold: float = 0.3,
        shuffle_histology: bool = False,
        synthetic_train: int = 256,
        synthetic_val: int = 32,
        synthetic_test: int = 64,
        synthetic_seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
        predict_path: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.adjacency: np.ndarray | None = None
        self.gene_names: list[str] = [f"gene_{i}" for i in range(genes)]
        self.splits: dict[str, Dataset] = {}
        self.predict_names: list[str] = []

    # --- sizes linked into the model -------------------------------------------------------------------------------
    @property
    def sizes(self) -> tuple[int, int, int, int]:
        h = self.hparams
        return h.lr_size, h.hr_size, h.n_tiles, h.tile_size

    def _perm(self, n: int, split: str) -> np.ndarray | None:
        if not self.hparams.shuffle_histology or n < 2:
            return None
        rng = np.random.default_rng(1000 + ["train", "val", "test"].index(split))
        perm = rng.permutation(n)
        while (perm == np.arange(n)).any():  # a derangement: no patch keeps its own histology
            perm = rng.permutation(n)
        return perm

    # --- setup -------------------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        if self.splits:
            return
        if self.hparams.dataset == "synthetic":
            self._setup_synthetic()
        else:
            self._setup_official()

    def _setup_synthetic(self) -> None:
        h = self.hparams
        cfg = SyntheticTissue(
            genes=h.genes, lr_size=h.lr_size, hr_size=h.hr_size, tile_size=h.tile_size, n_tiles=h.n_tiles
        )
        seeds = {"train": h.synthetic_seed * 3 + 1, "val": h.synthetic_seed * 3 + 2, "test": h.synthetic_seed * 3 + 3}
        counts = {"train": h.synthetic_train, "val": h.synthetic_val, "test": h.synthetic_test}
        raw = {s: make_patches(cfg, counts[s], seeds[s]) for s in counts}
        self.splits = {s: PatchArrays(raw[s], self._perm(counts[s], s)) for s in counts}
        train = self.splits["train"]
        self.adjacency = self._graph(totals=raw["train"]["hr"].sum(axis=(0, 2, 3)), maps=train.hr)

    def _graph(self, totals: np.ndarray | None = None, coexpre: np.ndarray | None = None, maps=None) -> np.ndarray:
        h = self.hparams
        return adjacency(h.adj_mode, totals=totals, coexpre=coexpre, maps=maps, threshold=h.adj_threshold)

    def _gene_selection(self) -> tuple[np.ndarray, np.ndarray]:
        root = Path(self.hparams.root)
        if not root.is_dir():
            raise DataNotFoundError("official_npy", root, missing=[str(root)], expected=EXPECTED, source=SOURCE)
        order = np.asarray(load_array(root / "gene_order.npy", (None,), "a 1-D gene index array")).astype(np.int64)
        g = self.hparams.genes
        if len(order) < g:
            raise DataFormatError(root / "gene_order.npy", f"{len(order)} genes", expected=f"at least {g} (data.genes)")
        co = np.asarray(load_array(root / "gene_coexpre.npy", (None, None), "a (G_tot, G_tot) co-expression matrix"))
        if co.shape[0] != co.shape[1] or co.shape[0] <= int(order[:g].max()):
            raise DataFormatError(
                root / "gene_coexpre.npy", f"shape {co.shape}", expected="a square (G_tot, G_tot) matrix"
            )
        names_file = root / "gene_names.txt"
        if names_file.is_file():
            names = names_file.read_text().split("\n")
            self.gene_names = [names[i] if i < len(names) else f"gene_{i}" for i in order[:g]]
        return order[:g], co

    def _setup_official(self) -> None:
        h = self.hparams
        genes, co = self._gene_selection()
        data_dir = Path(h.root) / h.data_dir
        if not h.train_samples or not h.test_samples:
            raise DataFormatError(
                data_dir,
                "data.train_samples and data.test_samples must name sample folders",
                expected="e.g. --data.train_samples=[01220101,NC1] --data.test_samples=[01220201]",
            )
        shared = set(h.train_samples) & set(h.test_samples)
        train = find_patches(data_dir, h.train_samples, h.hr_name)
        test = find_patches(data_dir, h.test_samples, h.hr_name)
        if shared:  # one sample for both: a fixed split by patch
            in_shared = [f.name.split("/")[0] in shared for f in train]
            rank = np.cumsum(in_shared) - 1
            train = [f for f, s, r in zip(train, in_shared, rank) if not s or r % 4 != 3]
            test_rank = np.cumsum([f.name.split("/")[0] in shared for f in test]) - 1
            test = [f for f, r in zip(test, test_rank) if f.name.split("/")[0] not in shared or r % 4 == 3]
        if h.val_samples:
            val = find_patches(data_dir, h.val_samples, h.hr_name)
        else:  # the official code has no validation split: hold out every 10th training patch
            val = train[::10]
            train = [f for i, f in enumerate(train) if i % 10]
        parts = {"train": train, "val": val, "test": test}
        self.splits = {s: OfficialDataset(f, genes, self.sizes, self._perm(len(f), s)) for s, f in parts.items()}
        if h.adj_mode == "ratio_max":
            self.adjacency = self._graph(coexpre=co[np.ix_(genes, genes)])
        else:
            maps = np.stack([self.splits["train"][i]["hr"].numpy() for i in range(min(len(train), 64))])
            self.adjacency = self._graph(maps=maps)

    def _setup_predict(self) -> None:
        h = self.hparams
        if not h.predict_path:
            raise DataNotFoundError(
                "predict",
                ".",
                missing=["--data.predict_path"],
                hint="Pass --data.predict_path=<sample folder or spot_ST.npy> prepared by "
                "`diffst prepare` (official layout).",
            )
        path = Path(h.predict_path)
        if path.is_dir():
            spots = sorted(path.rglob("spot_ST.npy"))
            if not spots:
                raise DataNotFoundError("predict", path, missing=["<patch>/spot_ST.npy"], expected=EXPECTED["Xenium"])
        elif path.is_file():
            spots = [path]
        else:
            raise DataNotFoundError("predict", path.parent, missing=[path.name], expected=EXPECTED["Xenium"])
        files = [patch_files(s, None) for s in spots]
        first = load_array(files[0].spot, (h.lr_size, h.lr_size, None), "a spot map (L, L, genes)")
        genes = np.arange(h.genes)
        if first.shape[-1] != h.genes:
            order = Path(h.root) / "gene_order.npy"
            if not order.is_file():
                raise DataFormatError(
                    files[0].spot,
                    f"{first.shape[-1]} genes",
                    expected=f"{h.genes} genes, or gene_order.npy under --data.root={h.root}",
                )
            genes = np.asarray(np.load(order)).astype(np.int64)[: h.genes]
        self.predict_names = [f.name for f in files]
        self.splits["predict"] = OfficialDataset(files, genes, self.sizes)

    # --- loaders -----------------------------------------------------------------------------------------------------
    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        h = self.hparams
        return DataLoader(
            self.splits[split], batch_size=h.batch_size, shuffle=shuffle, num_workers=h.num_workers, drop_last=False
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")
