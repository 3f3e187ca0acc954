"""LightningDataModule for multi-behaviour recommendation with a KG (the CML/KMCLR data protocol
and the embedded synthetic set).

``--data.dataset`` picks ``synthetic`` (embedded default: generated, written in the CML/KMCLR format under
``--data.root`` and read back through the real loader), ``tmall``, ``retail_rocket``, ``ijcai`` (CML/KMCLR format) or
``movielens_kg`` (MovieLens-100K with its Freebase KG, RecBole atomic files; :mod:`kamcl.datasets.movielens`).
Batches: BPR training pairs of the target behaviour (negatives are drawn in the module); evaluation users with
their held-out item and 99 fixed sampled negatives (for the separately reported 1+99 protocol).
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, TensorDataset

from kamcl.datasets.formats import DATASETS, MultiBehaviourData, carve_validation, load_cml, shuffle_relation_tails
from kamcl.datasets.movielens import load_movielens_kg
from kamcl.datasets.synthetic import SyntheticConfig, write_synthetic
from kamcl.graph import Graph, bipartite_adj
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError

__all__ = ["KAMCLDataModule", "sample_negatives"]

log = logging.getLogger(__name__)


def sample_negatives(
    exclude: sp.csr_matrix, users: np.ndarray, positives: np.ndarray, n: int, seed: int, chunk: int = 1024
) -> np.ndarray:
    """n distinct items per user, none in the user's ``exclude`` row nor its positive. -> (len(users), n)."""
    n_items = exclude.shape[1]
    gen = torch.Generator().manual_seed(seed)
    out = np.zeros((len(users), n), np.int64)
    for s in range(0, len(users), chunk):
        u = users[s : s + chunk]
        key = torch.rand(len(u), n_items, generator=gen)
        rows = exclude[u].tocoo()
        key[torch.from_numpy(rows.row).long(), torch.from_numpy(rows.col).long()] = 2.0
        key[torch.arange(len(u)), torch.from_numpy(positives[s : s + chunk])] = 3.0
        if (key < 2.0).sum(1).min() < n:
            raise ValueError(f"fewer than {n} candidate negatives for some user: lower --data.n_sampled_negatives")
        out[s : s + chunk] = key.topk(n, dim=1, largest=False).indices.numpy()
    return out


class KAMCLDataModule(pl.LightningDataModule):
    """Multi-behaviour data with an item KG.

    Args:
        dataset: synthetic | tmall | retail_rocket | ijcai | movielens_kg.
        root: dataset folder (default ``data/kamcl/<dataset>``; synthetic plain split: ``data/kamcl/synthetic_plain``;
            the synthetic files go to ``<root>/synthetic-<key of the generator settings>/``; movielens_kg:
            ``data/ml100k``, the folder ``make data-ml100k`` writes).
        behaviours: behaviour file suffixes, target last (default: the dataset's list, see ``DATASETS``).
        hard_split: validation carve-out (and, for synthetic, the test split) removes the held-out (user, item) pair
            from every training behaviour; False = plain temporal leave-one-out (only later auxiliary events dropped).
        shuffle_kg_relations: relation ids whose tails are permuted (synthetic price bucket = 2): signal ablation.
        kg_shuffle_seed: seed of that permutation; None (default) = the run's seed (``seed_everything``), so that
            every seed of a comparison draws its own permutation.
        train_positives: BPR positives: ``target`` (the target behaviour) or ``merged`` (an interaction in any
            behaviour counts as a positive; the "LightGCN on merged positives" baseline).
        eval_mask: items masked in full ranking (and excluded from sampled negatives): the user's training items of
            the ``target`` behaviour or of ``all`` behaviours; default per dataset (movielens_kg: all, else target).
        synthetic_seed / synthetic_users / synthetic_items: generator settings of the embedded dataset.
        batch_size: BPR pairs per step. eval_batch_size: users per evaluation step.
        n_sampled_negatives: negatives of the 1+N protocol (99 in the literature).
        predict_users: for ``predict``: a text/CSV file with one user per line (an optional header ``user``): the
            user index, or for movielens_kg the MovieLens user id; the module writes its top-K items per user,
            excluding the user's items in every training behaviour. An unknown user is a one-paragraph error.
        predict_all_users: ``predict`` for every user when ``predict_users`` is not given (``kamcl recommend``).
        top_k: items per user that ``predict`` writes (default: the model's ``top_k``; a data option, so that it can
            change at predict time, when the model's hyperparameters come from the checkpoint).
    """

    def __init__(
        self,
        dataset: Literal["synthetic", "tmall", "retail_rocket", "ijcai", "movielens_kg"] = "synthetic",
        root: str | None = None,
        behaviours: list[str] | None = None,
        hard_split: bool = True,
        shuffle_kg_relations: list[int] | None = None,
        kg_shuffle_seed: int | None = None,
        train_positives: Literal["target", "merged"] = "target",
        eval_mask: Literal["target", "all"] | None = None,
        synthetic_seed: int = 0,
        synthetic_users: int = 1000,
        synthetic_items: int = 600,
        batch_size: int = 2048,
        eval_batch_size: int = 512,
        n_sampled_negatives: int = 99,
        num_workers: int = 0,
        predict_users: str | None = None,
        predict_all_users: bool = False,
        top_k: int | None = None,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        suffix = "" if (dataset != "synthetic" or hard_split) else "_plain"
        default_root = Path("data", "ml100k") if dataset == "movielens_kg" else Path("data", "kamcl", dataset + suffix)
        self.root = Path(root) if root else default_root
        self.behaviours = list(behaviours or DATASETS[dataset]["behaviours"])
        self.hard_split = hard_split
        self.shuffle_kg_relations = list(shuffle_kg_relations or [])
        self.kg_shuffle_seed = kg_shuffle_seed
        self.train_positives = train_positives
        self.eval_mask = eval_mask or DATASETS[dataset].get("eval_mask", "target")
        self.synthetic_cfg = SyntheticConfig(
            n_users=synthetic_users, n_items=synthetic_items, hard=hard_split, seed=synthetic_seed
        )
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.n_sampled_negatives = n_sampled_negatives
        self.num_workers = num_workers
        self.predict_users = predict_users
        self.predict_all_users = predict_all_users
        self.top_k = top_k

    # ---- loading (lazy, so that sizes can be linked into the model at instantiation) -------------------------------
    @cached_property
    def data(self) -> MultiBehaviourData:
        extra: dict = {}
        if self.dataset == "movielens_kg":
            mats, test, kg, extra = load_movielens_kg(self.root)
            mats = {b: mats[b] for b in self.behaviours}
        else:
            folder = write_synthetic(self.root, self.synthetic_cfg) if self.dataset == "synthetic" else self.root
            mats, test, kg = load_cml(
                folder, self.behaviours, dataset=self.dataset, source=DATASETS[self.dataset]["source"]
            )
        n_users, n_items = mats[self.behaviours[-1]].shape
        mats, val = carve_validation(mats, self.behaviours[-1], test, hard=self.hard_split)
        if self.shuffle_kg_relations:
            kg = shuffle_relation_tails(kg, self.shuffle_kg_relations, self.shuffle_seed)
        n_entities = max(int(max(kg[:, 0].max(), kg[:, 2].max()) + 1), extra.get("n_entities", 0))
        return MultiBehaviourData(
            behaviours=self.behaviours,
            train=mats,
            test_items=test,
            val_items=val,
            kg=kg,
            n_users=n_users,
            n_items=n_items,
            n_entities=max(n_entities, n_items),
            n_relations=int(kg[:, 1].max() + 1),
            extra=extra,
        )

    @property
    def shuffle_seed(self) -> int:
        """The KG permutation's seed: ``kg_shuffle_seed``, else the seed ``seed_everything`` set (else 0)."""
        if self.kg_shuffle_seed is not None:
            return self.kg_shuffle_seed
        return int(os.environ.get("PL_GLOBAL_SEED", 0))

    @property
    def n_users(self) -> int:
        return self.data.n_users

    @property
    def n_items(self) -> int:
        return self.data.n_items

    @property
    def n_entities(self) -> int:
        return self.data.n_entities

    @property
    def n_relations(self) -> int:
        return self.data.n_relations

    @property
    def n_behaviours(self) -> int:
        return len(self.behaviours)

    @cached_property
    def graph(self) -> Graph:
        d = self.data
        adj = []
        for b in self.behaviours:
            coo = d.train[b].tocoo()
            adj.append(
                bipartite_adj(torch.from_numpy(coo.row).long(), torch.from_numpy(coo.col).long(), d.n_users, d.n_items)
            )
        merged = sum((d.train[b] != 0).astype(np.float32) for b in self.behaviours).tocoo()
        adj_merged = bipartite_adj(
            torch.from_numpy(merged.row).long(), torch.from_numpy(merged.col).long(), d.n_users, d.n_items
        )
        pop = torch.from_numpy(np.asarray((d.train[d.target] != 0).sum(0)).ravel().astype(np.float32))
        return Graph(adj=adj, adj_merged=adj_merged, kg=torch.from_numpy(d.kg).long(), target_pop=pop)

    @cached_property
    def train_target(self) -> sp.csr_matrix:
        """Binary training matrix of the target behaviour (what full ranking masks)."""
        m = (self.data.train[self.data.target] != 0).astype(np.float32).tocsr()
        m.eliminate_zeros()
        return m

    @cached_property
    def train_seen(self) -> sp.csr_matrix:
        """Binary matrix of every training interaction, in any behaviour."""
        seen = sum((self.data.train[b] != 0).astype(np.float32) for b in self.behaviours)
        return (seen != 0).astype(np.float32).tocsr()

    @cached_property
    def train_pairs(self) -> sp.csr_matrix:
        """The BPR positives (``train_positives``): training target pairs, or every training interaction."""
        return self.train_seen if self.train_positives == "merged" else self.train_target

    @cached_property
    def positive_keys(self) -> torch.Tensor:
        """Sorted u * I + i keys of the BPR positives (negative sampling rejects these)."""
        coo = self.train_pairs.tocoo()
        return torch.from_numpy(coo.row.astype(np.int64) * self.n_items + coo.col).sort().values

    def mask_for(self, stage: str) -> sp.csr_matrix:
        """Items excluded from ranking: the user's training items (``eval_mask``: target behaviour or all), plus the
        validation item at test time; for ``predict`` every item the user interacted with in any training behaviour
        (and its validation item)."""
        base = self.train_seen if (self.eval_mask == "all" or stage == "predict") else self.train_target
        if stage == "val":
            return base
        val = self.data.val_items
        users = np.nonzero(val >= 0)[0]
        extra = sp.csr_matrix((np.ones(len(users), np.float32), (users, val[users])), shape=base.shape)
        return ((base + extra) != 0).astype(np.float32).tocsr()

    def _eval_set(self, stage: str) -> TensorDataset:
        held = self.data.val_items if stage == "val" else self.data.test_items
        users = np.nonzero(held >= 0)[0]
        negs = sample_negatives(
            self.mask_for(stage), users, held[users], self.n_sampled_negatives, seed=1 if stage == "val" else 2
        )
        return TensorDataset(
            torch.from_numpy(users).long(), torch.from_numpy(held[users]).long(), torch.from_numpy(negs)
        )

    # ---- Lightning hooks ---------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        d = self.data
        coo = self.train_pairs.tocoo()
        self.train_set = TensorDataset(torch.from_numpy(coo.row).long(), torch.from_numpy(coo.col).long())
        if stage in (None, "fit", "validate"):
            self.val_set = self._eval_set("val")
        if stage in (None, "test"):
            self.test_set = self._eval_set("test")
        if stage == "predict":
            self.predict_set = self._predict_set()
        log.info(
            "%s: %d users, %d items, %d entities, %d relations, %s",
            self.dataset,
            d.n_users,
            d.n_items,
            d.n_entities,
            d.n_relations,
            ", ".join(f"{b}={d.train[b].nnz}" for b in self.behaviours),
        )

    @property
    def user_ids(self) -> list[str] | None:
        """The dataset's own user ids by index (movielens_kg), else None (users are indices)."""
        return self.data.extra.get("user_ids")

    @property
    def item_ids(self) -> list[str] | None:
        return self.data.extra.get("item_ids")

    def _predict_set(self) -> TensorDataset:
        if not self.predict_users:
            if self.predict_all_users:
                return TensorDataset(torch.arange(self.n_users))
            raise PaperkitError(
                "predict needs --data.predict_users (a file with one user per line) or --data.predict_all_users=true"
            )
        path = Path(self.predict_users)
        if not path.is_file():
            raise DataNotFoundError("predict users", path.parent, missing=[path.name], expected=[path.name])
        try:
            lines = path.read_text().splitlines()
        except UnicodeDecodeError:
            raise DataFormatError(path, "not a text file", expected="one user per line") from None
        ids = {t: u for u, t in enumerate(self.user_ids)} if self.user_ids else None
        what = "MovieLens user ids" if ids else f"user indices 0..{self.n_users - 1}"
        users: list[int] = []
        for n, line in enumerate(lines, 1):
            token = line.split(",")[0].strip()
            if not token or token.startswith("#") or (n == 1 and token.lower() in ("user", "user_id")):
                continue
            if ids is not None and token in ids:
                users.append(ids[token])
            elif ids is None and token.isdigit() and int(token) < self.n_users:
                users.append(int(token))
            else:
                raise DataFormatError(path, f"line {n}: {token!r} is not a user of {self.dataset}",
                                      expected=f"{what}, one per line")  # fmt: skip
        if not users:
            raise DataFormatError(path, "no user", expected=f"{what}, one per line")
        return TensorDataset(torch.tensor(users, dtype=torch.long))

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.predict_set, batch_size=self.eval_batch_size, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.eval_batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.eval_batch_size, num_workers=self.num_workers)
