"""MovieLens-100K with its Freebase knowledge graph (RecBole atomic files) as a multi-behaviour dataset.

Files (``make data-ml100k`` extracts them from the recbole==1.2.1 wheel into ``data/ml100k/``)::

    ml-100k.inter   user_id:token  item_id:token  rating:float  timestamp:float   (tab-separated, typed header)
    ml-100k.kg      head_id:token  relation_id:token  tail_id:token              (Freebase ids, relation names)
    ml-100k.link    item_id:token  entity_id:token                               (item -> KG entity)

Behaviours from the ratings, as the multi-behaviour literature does with MovieLens: rating <= 2 = ``dislike``,
3 = ``neutral``, >= 4 = ``like`` (the target). Items are ids 0..I-1 (item tokens in numeric order) and are also the
entities 0..I-1 of the KG: a linked item's entity takes the item's id, every other entity follows from I on. Relations
are the ``.kg`` relation names as given (sorted), triples deduplicated.

Split: leave-last-out by timestamp on the target behaviour. A user's latest like (ties: larger item id) is the test
item (users with >= 2 likes); the validation item is carved later from the remaining likes
(:func:`kamcl.datasets.formats.carve_validation`). Auxiliary ratings later than the test timestamp are dropped, so
that training never sees the future of the test event.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["ML_BEHAVIOURS", "ML_FILES", "load_movielens_kg"]

log = logging.getLogger(__name__)

ML_BEHAVIOURS = ["dislike", "neutral", "like"]
ML_FILES = {
    "inter": ("ml-100k.inter", ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]),
    "kg": ("ml-100k.kg", ["head_id:token", "relation_id:token", "tail_id:token"]),
    "link": ("ml-100k.link", ["item_id:token", "entity_id:token"]),
}
SOURCE = "the recbole==1.2.1 wheel (recbole/dataset_example/ml-100k/): run `make data-ml100k`"


def _read(root: Path, key: str) -> pd.DataFrame:
    name, columns = ML_FILES[key]
    path = root / name
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFormatError(path, f"not a tab-separated RecBole atomic file ({type(err).__name__})",
                              expected="\t".join(columns), source=SOURCE) from None  # fmt: skip
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataFormatError(path, f"header lacks {', '.join(missing)} (has {', '.join(map(str, df.columns))})",
                              expected="\t".join(columns), source=SOURCE)  # fmt: skip
    if df.empty:
        raise DataFormatError(path, "no rows", expected="\t".join(columns), source=SOURCE)
    return df[columns]


def _numeric(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy()
    if np.isnan(values).any():
        row = int(np.nonzero(np.isnan(values))[0][0]) + 2
        raise DataFormatError(path, f"line {row}: {column} is not a number", source=SOURCE)
    return values


def _token_order(tokens: pd.Series) -> list[str]:
    """Tokens in numeric order where they are all integers (MovieLens ids), else in string order."""
    uniq = tokens.unique().tolist()
    if all(t.isdigit() for t in uniq):
        return sorted(uniq, key=int)
    return sorted(uniq)


def load_movielens_kg(
    root: str | Path, *, dislike_max: float = 2.0, like_min: float = 4.0
) -> tuple[dict[str, sp.csr_matrix], np.ndarray, np.ndarray, dict]:
    """Read the three files; return (train matrices per behaviour with timestamps as values, test item per user
    (-1 = none), KG triples (T, 3), extra = {"user_ids", "item_ids", "relations", "n_entities"})."""
    root = Path(root)
    names = [f for f, _ in ML_FILES.values()]
    missing = [f for f in names if not (root / f).is_file()]
    if missing:
        raise DataNotFoundError("movielens_kg", root, missing=missing, expected=names, source=SOURCE,
                                hint="Pass --data.root to the folder that holds ml-100k.inter (make data-ml100k "
                                     "writes data/ml100k).")  # fmt: skip
    inter, kg, link = (_read(root, k) for k in ("inter", "kg", "link"))
    ipath = root / ML_FILES["inter"][0]
    rating = _numeric(inter, "rating:float", ipath)
    ts = _numeric(inter, "timestamp:float", ipath)
    user_ids = _token_order(inter["user_id:token"])
    item_ids = _token_order(inter["item_id:token"])
    uidx = {t: i for i, t in enumerate(user_ids)}
    iidx = {t: i for i, t in enumerate(item_ids)}
    u = inter["user_id:token"].map(uidx).to_numpy(np.int64)
    it = inter["item_id:token"].map(iidx).to_numpy(np.int64)
    U, I = len(user_ids), len(item_ids)
    beh = np.where(rating <= dislike_max, 0, np.where(rating >= like_min, 2, 1))  # dislike / neutral / like

    # test: each user's latest like (ties -> larger item id), for users with >= 2 likes
    test = np.full(U, -1, np.int64)
    test_t = np.full(U, np.inf)
    like = np.nonzero(beh == 2)[0]
    order = like[np.lexsort((it[like], ts[like], u[like]))]  # by user, then time, then item
    last = order[np.r_[u[order][1:] != u[order][:-1], True]]  # last like of each user
    counts = np.bincount(u[like], minlength=U)
    last = last[counts[u[last]] >= 2]
    test[u[last]], test_t[u[last]] = it[last], ts[last]
    keep = np.ones(len(u), bool)
    keep[last] = False
    keep &= ~((beh != 2) & (ts > test_t[u]))  # no auxiliary event after the test timestamp
    mats = {}
    for b, name in enumerate(ML_BEHAVIOURS):
        sel = keep & (beh == b)
        m = sp.csr_matrix((ts[sel], (u[sel], it[sel])), shape=(U, I))
        m.eliminate_zeros()
        mats[name] = m

    # KG: linked entities take their item's id, the rest follow from I on; relations by sorted name
    link = link[link["item_id:token"].isin(iidx)]
    ent = dict(zip(link["entity_id:token"], link["item_id:token"].map(iidx)))
    others = sorted((set(kg["head_id:token"]) | set(kg["tail_id:token"])) - set(ent))
    ent.update({e: I + k for k, e in enumerate(others)})
    relations = sorted(kg["relation_id:token"].unique())
    ridx = {r: k for k, r in enumerate(relations)}
    triples = np.stack(
        [kg["head_id:token"].map(ent), kg["relation_id:token"].map(ridx), kg["tail_id:token"].map(ent)], 1
    ).astype(np.int64)
    triples = np.unique(triples, axis=0)
    extra = {"user_ids": user_ids, "item_ids": item_ids, "relations": relations, "n_entities": I + len(others)}
    log.info(
        "movielens_kg: %d users, %d items (%d linked to the KG), %d entities, %d relations, %d triples; %s",
        U, I, len(link), I + len(others), len(relations), len(triples),
        ", ".join(f"{b}={m.nnz}" for b, m in mats.items()),
    )  # fmt: skip
    return mats, test, triples, extra
