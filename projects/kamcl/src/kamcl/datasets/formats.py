"""Reader for the CML / KMCLR multi-behaviour on-disk format and the validation carve-out.

Layout of one dataset folder::

    trn_<behaviour>   pickled scipy.sparse matrix, users x items, values = unix timestamps (one file per behaviour)
    tst_int           pickled list (length n_users): held-out target item per user, or None
    kg.txt            "h r t" per line; items are the entity ids 0..n_items-1

There is no validation file in that lineage (the official pipelines select epochs on test); we carve the
validation item out of the training target matrix: each user's latest training purchase (README, "Split").
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["DATASETS", "MultiBehaviourData", "carve_validation", "load_cml", "read_kg", "shuffle_relation_tails"]

log = logging.getLogger(__name__)

# behaviour lists per dataset (the last one is the target); sources of the released files
DATASETS: dict[str, dict] = {
    "tmall": {"behaviours": ["pv", "fav", "cart", "buy"], "source": "https://github.com/xuanhongrui/KMCLR (Tmall)"},
    "retail_rocket": {
        "behaviours": ["fav", "cart", "buy"],
        "source": "https://github.com/xuanhongrui/KMCLR (retail)",
    },
    "ijcai": {"behaviours": ["click", "fav", "cart", "buy"], "source": "https://github.com/weiwei1206/CML (IJCAI15)"},
    "synthetic": {"behaviours": ["view", "cart", "buy"], "source": None},
    "movielens_kg": {
        "behaviours": ["dislike", "neutral", "like"],
        "source": "the recbole==1.2.1 wheel (make data-ml100k)",
        "eval_mask": "all",
    },
}


@dataclass
class MultiBehaviourData:
    """Train matrices per behaviour (binary CSR, users x items), held-out items, KG triples."""

    behaviours: list[str]
    train: dict[str, sp.csr_matrix]  # timestamps as values
    test_items: np.ndarray  # (U,) int64, -1 = no test item
    val_items: np.ndarray  # (U,) int64, -1 = no validation item
    kg: np.ndarray  # (T, 3) int64 h, r, t
    n_users: int
    n_items: int
    n_entities: int
    n_relations: int
    extra: dict = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.behaviours[-1]


def _expected(behaviours: list[str], kg_file: str) -> list[str]:
    return [f"trn_{b}" for b in behaviours] + ["tst_int", kg_file]


def _load_pickle(path: Path) -> object:
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception as err:
        raise DataFormatError(path, f"not a readable pickle ({type(err).__name__}: {err})") from None


def read_kg(path: Path) -> np.ndarray:
    """``kg.txt`` -> (T, 3) int64 array of (head, relation, tail)."""
    try:
        arr = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise DataFormatError(path, f"cannot parse integer triples ({err})", expected='one "h r t" per line') from None
    if arr.size == 0:
        raise DataFormatError(path, "no triples", expected='one "h r t" per line')
    if arr.shape[1] != 3:
        raise DataFormatError(path, f"{arr.shape[1]} columns per line", expected='3 columns "h r t"')
    if (arr < 0).any():
        raise DataFormatError(path, "negative ids", expected="non-negative entity and relation ids")
    return arr


def load_cml(
    root: str | Path,
    behaviours: list[str],
    *,
    dataset: str = "custom",
    kg_file: str = "kg.txt",
    source: str | None = None,
) -> tuple[dict[str, sp.csr_matrix], np.ndarray, np.ndarray]:
    """Read ``trn_<b>`` for every behaviour, ``tst_int`` and the KG. Raises paperkit errors on bad data."""
    root = Path(root)
    missing = [name for name in _expected(behaviours, kg_file) if not (root / name).is_file()]
    if missing:
        raise DataNotFoundError(
            dataset,
            root,
            missing=missing,
            expected=_expected(behaviours, kg_file),
            source=source,
            hint="Pass --data.root to the folder that holds these files (behaviours: --data.behaviours).",
        )
    mats: dict[str, sp.csr_matrix] = {}
    shape = None
    for b in behaviours:
        path = root / f"trn_{b}"
        m = _load_pickle(path)
        if not sp.issparse(m):
            raise DataFormatError(path, f"holds a {type(m).__name__}", expected="a pickled scipy.sparse matrix")
        m = sp.csr_matrix(m)
        if shape is not None and m.shape != shape:
            raise DataFormatError(
                path,
                f"shape {m.shape} differs from trn_{behaviours[0]} {shape}",
                expected="every behaviour matrix to be users x items of the same size",
            )
        shape = m.shape
        m.eliminate_zeros()
        mats[b] = m
    assert shape is not None
    path = root / "tst_int"
    tst = _load_pickle(path)
    try:
        tst = np.asarray([-1 if t is None else int(t) for t in tst], dtype=np.int64)
    except (TypeError, ValueError):
        raise DataFormatError(path, "entries are not item ids", expected="a list of item ids or None") from None
    if len(tst) != shape[0]:
        raise DataFormatError(path, f"length {len(tst)} != {shape[0]} users", expected="one entry per user")
    if (tst >= shape[1]).any():
        raise DataFormatError(path, "item id beyond the matrix width", expected=f"ids < {shape[1]}")
    kg = read_kg(root / kg_file)
    return mats, tst, kg


def carve_validation(
    mats: dict[str, sp.csr_matrix], target: str, test_items: np.ndarray, *, hard: bool = True, min_train: int = 1
) -> tuple[dict[str, sp.csr_matrix], np.ndarray]:
    """Move each user's latest training target interaction to validation (users keeping >= ``min_train`` ones).

    hard=True removes the (user, item) pair from every behaviour; otherwise only auxiliary events after the
    validation timestamp are dropped (no future leakage). Test items that still appear in train are left alone.
    """
    tgt = mats[target].tocsr()
    U = tgt.shape[0]
    val = np.full(U, -1, np.int64)
    val_t = np.zeros(U)
    for u in range(U):
        lo, hi = tgt.indptr[u], tgt.indptr[u + 1]
        if hi - lo <= min_train:
            continue
        cols, ts = tgt.indices[lo:hi], tgt.data[lo:hi]
        # latest timestamp, ties broken by the larger item id for determinism
        k = np.lexsort((cols, ts))[-1]
        if cols[k] == test_items[u]:
            continue
        val[u], val_t[u] = cols[k], ts[k]
    users = np.nonzero(val >= 0)[0]
    out = {}
    for b, m in mats.items():
        coo = m.tocoo()
        hit = val[coo.row] == coo.col
        if b != target and not hard:
            hit &= coo.data > val_t[coo.row]
        keep = ~hit
        out[b] = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape)
    log.info("validation items carved for %d / %d users", len(users), U)
    return out, val


def shuffle_relation_tails(kg: np.ndarray, relations: list[int], seed: int = 0) -> np.ndarray:
    """Permute the tails of the given relations among their triples (destroys the attribute signal, keeps degrees)."""
    kg = kg.copy()
    rng = np.random.default_rng(seed)
    for r in relations:
        idx = np.nonzero(kg[:, 1] == r)[0]
        kg[idx, 2] = kg[rng.permutation(idx), 2]
    return kg
