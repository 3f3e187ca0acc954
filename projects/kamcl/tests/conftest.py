"""Fixture writers: small datasets in the exact CML/KMCLR format (pickled scipy.sparse, pickled list, kg.txt)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp


def write_cml_fixture(
    root: Path,
    behaviours: tuple[str, ...] = ("pv", "fav", "cart", "buy"),
    n_users: int = 12,
    n_items: int = 20,
    n_relations: int = 2,
    seed: int = 0,
) -> dict:
    """Write trn_<b> (csr, timestamps as values), tst_int (list with a None) and kg.txt; return what was written."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    mats = {}
    for b in behaviours:
        dense = (rng.uniform(size=(n_users, n_items)) < 0.3) * rng.integers(
            1_500_000_000, 1_600_000_000, size=(n_users, n_items)
        )
        dense[:, 0] = 0
        if b == behaviours[-1]:
            dense[:, 1:4] = 1_700_000_000 + np.arange(3)[None, :] * 10 + np.arange(n_users)[:, None]  # >= 3 buys
        m = sp.csr_matrix(dense.astype(np.float64))
        mats[b] = m
        with (root / f"trn_{b}").open("wb") as f:
            pickle.dump(m, f)
    test: list[int | None] = [0] * n_users  # item 0 is never in train
    test[-1] = None  # one user without a test item
    with (root / "tst_int").open("wb") as f:
        pickle.dump(test, f)
    n_attr = 5
    lines = [f"{i} {r} {n_items + (i + r) % n_attr}" for i in range(n_items) for r in range(n_relations)]
    (root / "kg.txt").write_text("\n".join(lines) + "\n")
    return {"mats": mats, "test": test, "n_entities": n_items + n_attr, "n_relations": n_relations}


@pytest.fixture
def cml_root(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "tmall"
    return root, write_cml_fixture(root)


@pytest.fixture(scope="module")
def fixture_dm(tmp_path_factory):
    """A KAMCLDataModule over a CML-format fixture (4 behaviours), set up for fit and test."""
    from kamcl.data import KAMCLDataModule

    root = tmp_path_factory.mktemp("data") / "tmall"
    write_cml_fixture(root)
    dm = KAMCLDataModule(dataset="tmall", root=str(root), n_sampled_negatives=5)
    dm.setup(None)
    return dm
