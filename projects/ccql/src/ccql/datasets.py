"""Real-format loaders (paper Sec. 5, "Datasets"): RetailRocket, YooChoose (RC15), the SQN/SA2C preprocessed
pickles, MovieLens-100K (RecBole atomic file), and the synthetic set, all turned into one representation:

``Splits``: per split (train/val/test) a DataFrame of events sorted by (seq_id, time) with the columns
``seq_id`` (int), ``item`` (label-encoded 0..n_items-1), ``is_buy`` (0/1) and ``target`` (bool: this event is an
evaluation target, predicted from the events before it in the same sequence), plus the number of items and the
original item ids (``item_ids[item]``). Preprocessed splits are written once as Parquet in a cache folder keyed by the
preprocessing settings (``paperkit.synthetic.cached_dir``) and reused.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ccql.synthetic import SyntheticConfig, generate_events
from paperkit.errors import DataFormatError, DataNotFoundError
from paperkit.synthetic import cached_dir

__all__ = [
    "SPLITS",
    "Splits",
    "load_movielens",
    "load_retailrocket",
    "load_sqn_pickles",
    "load_synthetic",
    "load_yoochoose",
    "session_split",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CACHE_VERSION = 1


@dataclass
class Splits:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    n_items: int
    item_ids: list[str]
    replay: pd.DataFrame | None = None  # SQN replay buffer (sqn_pickles): used as the training transitions
    state_len: int | None = None  # fixed by the data (sqn_pickles' data_statis.df)
    notes: dict = field(default_factory=dict)

    def split(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


# --- helpers ----------------------------------------------------------------------------------------------------------
def _read_csv(path: Path, dataset: str, root: Path, expected: dict, source: str, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise DataNotFoundError(dataset, root, missing=[path.name], expected=expected, source=source)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataFormatError(path, f"not a readable CSV ({err})") from None


def _require(df: pd.DataFrame, cols: list[str], path: Path, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing} (found {list(df.columns)})", expected=what)


def _filter_min(df: pd.DataFrame, col: str, n: int) -> pd.DataFrame:
    counts = df[col].map(df[col].value_counts())
    return df[counts >= n]


def session_split(
    events: pd.DataFrame, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, pd.DataFrame]:
    """Random split *by session* (SQN: 8:1:1); every event of a val/test session is a target."""
    sessions = events["seq_id"].unique()
    perm = np.random.default_rng(seed).permutation(sessions)
    n_train = round(fractions[0] * len(perm))
    n_val = round(fractions[1] * len(perm))
    parts = {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}
    out = {}
    for name, ids in parts.items():
        df = events[events["seq_id"].isin(ids)].copy()
        df["target"] = True
        out[name] = df.reset_index(drop=True)
    return out


def _encode(events: pd.DataFrame, session_col: str, item_col: str) -> tuple[pd.DataFrame, list[str]]:
    """Label-encode items (0..n-1) and sessions; sort by (session, time)."""
    item_codes, item_uniques = pd.factorize(events[item_col], sort=True)
    sess_codes, _ = pd.factorize(events[session_col], sort=True)
    out = pd.DataFrame(
        {"seq_id": sess_codes.astype(np.int64), "item": item_codes.astype(np.int64),
         "is_buy": events["is_buy"].to_numpy(np.int8), "time": events["time"].to_numpy()}
    )  # fmt: skip
    out = out.sort_values(["seq_id", "time"], kind="stable").reset_index(drop=True)
    return out, [str(x) for x in item_uniques]


def _cached_splits(
    cache: Path, name: str, settings: dict, build: Callable[[], tuple[dict[str, pd.DataFrame], list[str]]]
) -> Splits:
    """Build the splits once (Parquet under ``cache/<name>-<key>/``) and read them back."""

    def write(folder: Path) -> None:
        parts, item_ids = build()
        for split, df in parts.items():
            if df.empty:
                raise DataFormatError(folder, f"the {split} split is empty after preprocessing", expected="more data")
            df.to_parquet(folder / f"{split}.parquet", index=False)
        pd.DataFrame({"item_id": item_ids}).to_parquet(folder / "items.parquet", index=False)

    folder = cached_dir(cache, name, {"cache_version": CACHE_VERSION, **settings}, write)
    parts = {s: pq.read_table(folder / f"{s}.parquet").to_pandas() for s in SPLITS}
    item_ids = pq.read_table(folder / "items.parquet").column("item_id").to_pylist()
    return Splits(**parts, n_items=len(item_ids), item_ids=item_ids)


# --- synthetic -------------------------------------------------------------------------------------------------
def load_synthetic(cfg: SyntheticConfig, cache: Path, split_seed: int) -> Splits:
    def build() -> tuple[dict[str, pd.DataFrame], list[str]]:
        ev = generate_events(cfg).rename(columns={"session_id": "seq_id", "item_id": "item", "timestamp": "time"})
        return session_split(ev, split_seed), [str(i) for i in range(cfg.n_items)]

    return _cached_splits(cache, "synthetic", {**cfg.settings(), "split_seed": split_seed}, build)


# --- RetailRocket ---------------------------------------------------------------------------------------------------
RR_SOURCE = "https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset (events.csv)"
RR_COLUMNS = ["timestamp", "visitorid", "event", "itemid", "transactionid"]


def load_retailrocket(root: Path, cache: Path, split_seed: int, min_count: int = 3) -> Splits:
    """Kaggle ``events.csv`` with the SQN preprocessing: transaction rows dropped, purchase := addtocart,
    items and sessions with < 3 events dropped, ids label-encoded, 8:1:1 split by session."""
    path = root / "events.csv"
    expected = {"events.csv": None}
    if not path.is_file():
        raise DataNotFoundError("retailrocket", root, missing=["events.csv"], expected=expected, source=RR_SOURCE)
    stat = path.stat()

    def build() -> tuple[dict[str, pd.DataFrame], list[str]]:
        df = _read_csv(path, "retailrocket", root, expected, RR_SOURCE)
        _require(df, RR_COLUMNS, path, "Kaggle's events.csv columns " + ", ".join(RR_COLUMNS))
        unknown = sorted(set(df["event"].astype(str)) - {"view", "addtocart", "transaction"})
        if unknown:
            raise DataFormatError(path, f"unknown event type(s) {unknown[:5]}", expected="view, addtocart, transaction")
        df = df[df["transactionid"].isna()]  # transactions dropped (SQN): "purchase" is the add-to-cart event
        df = df.assign(is_buy=(df["event"] == "addtocart").astype(np.int8), time=df["timestamp"])
        df = _filter_min(df, "itemid", min_count)
        df = _filter_min(df, "visitorid", min_count)
        if df.empty:
            raise DataFormatError(path, f"no events left after dropping items and sessions with < {min_count} events")
        ev, items = _encode(df, "visitorid", "itemid")
        return session_split(ev, split_seed), items

    settings = {"file": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns, "seed": split_seed,
                "min_count": min_count}  # fmt: skip
    return _cached_splits(cache, "retailrocket", settings, build)


# --- YooChoose (RC15) ---------------------------------------------------------------------------------------------
YC_SOURCE = "the RecSys Challenge 2015 data (yoochoose-clicks.dat, yoochoose-buys.dat)"


def load_yoochoose(root: Path, cache: Path, split_seed: int, n_sessions: int = 200_000, min_count: int = 3) -> Splits:
    """RC15 preprocessing (SQN): clicks with items/sessions < 3 dropped, ``n_sessions`` sampled sessions, their buys
    joined with is_buy = 1, items label-encoded jointly over clicks and buys, 8:1:1 split by session."""
    clicks_p, buys_p = root / "yoochoose-clicks.dat", root / "yoochoose-buys.dat"
    expected = {"yoochoose-clicks.dat": None, "yoochoose-buys.dat": None}
    missing = [p.name for p in (clicks_p, buys_p) if not p.is_file()]
    if missing:
        raise DataNotFoundError("yoochoose", root, missing=missing, expected=expected, source=YC_SOURCE)

    def read(path: Path, names: list[str]) -> pd.DataFrame:
        df = _read_csv(path, "yoochoose", root, expected, YC_SOURCE, header=None, dtype=str)
        if df.shape[1] < 3:
            raise DataFormatError(path, f"{df.shape[1]} column(s)", expected="comma-separated " + ", ".join(names))
        df = df.iloc[:, :3]
        df.columns = ["session_id", "timestamp", "item_id"]
        t = pd.to_datetime(df["timestamp"], errors="coerce", utc=True)
        if t.isna().any():
            raise DataFormatError(path, f"unparsable timestamp {df['timestamp'][t.isna()].iloc[0]!r}",
                                  expected="ISO-8601 timestamps like 2014-04-07T10:51:09.277Z")  # fmt: skip
        return df.assign(time=t.astype("int64"))

    def build() -> tuple[dict[str, pd.DataFrame], list[str]]:
        clicks = read(clicks_p, ["session id", "timestamp", "item id", "category"])
        buys = read(buys_p, ["session id", "timestamp", "item id", "price", "quantity"])
        clicks = _filter_min(_filter_min(clicks, "item_id", min_count), "session_id", min_count)
        sessions = clicks["session_id"].unique()
        if len(sessions) > n_sessions:
            sessions = np.random.default_rng(split_seed).choice(sessions, n_sessions, replace=False)
        clicks = clicks[clicks["session_id"].isin(sessions)].assign(is_buy=0)
        buys = buys[buys["session_id"].isin(sessions)].assign(is_buy=1)
        df = pd.concat([clicks, buys], ignore_index=True)
        if df.empty:
            raise DataFormatError(clicks_p, f"no sessions left after dropping items and sessions with < {min_count}")
        ev, items = _encode(df, "session_id", "item_id")
        return session_split(ev, split_seed), items

    settings = {"files": [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in (clicks_p, buys_p)],
                "seed": split_seed, "n_sessions": n_sessions, "min_count": min_count}  # fmt: skip
    return _cached_splits(cache, "yoochoose", settings, build)


# --- the SQN/SA2C preprocessed pickles ----------------------------------------------------------------------------
SQN_FILES = ["data_statis.df", "replay_buffer.df", "sampled_train.df", "sampled_val.df", "sampled_test.df"]
REPLAY_COLUMNS = ["state", "len_state", "action", "is_buy", "next_state", "len_next_states", "is_done"]


def _read_pickle(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_pickle(path)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, KeyError) as err:
        raise DataFormatError(path, f"not a pickled pandas DataFrame ({type(err).__name__})") from None
    if not isinstance(df, pd.DataFrame):
        raise DataFormatError(path, f"holds a {type(df).__name__}, not a pandas DataFrame")
    return df


def load_sqn_pickles(root: Path) -> Splits:
    """The preprocessed files the SQN/SA2C authors distribute (``data/<RC15 or RetailRocket>/``): the replay buffer
    trains, ``sampled_val.df`` / ``sampled_test.df`` evaluate (every event a target)."""
    missing = [f for f in SQN_FILES if not (root / f).is_file()]
    if missing:
        raise DataNotFoundError("sqn_pickles", root, missing=missing, expected=SQN_FILES,
                                hint="The pickles of the SQN/SA2C authors' preprocessing scripts.")  # fmt: skip
    statis = _read_pickle(root / "data_statis.df")
    _require(statis, ["state_size", "item_num"], root / "data_statis.df", "columns state_size, item_num")
    state_len, n_items = int(statis["state_size"].iloc[0]), int(statis["item_num"].iloc[0])
    replay = _read_pickle(root / "replay_buffer.df")
    _require(replay, REPLAY_COLUMNS, root / "replay_buffer.df", "the SQN replay-buffer columns")
    parts = {}
    for split in SPLITS:
        path = root / f"sampled_{split}.df"
        df = _read_pickle(path)
        _require(df, ["session_id", "item_id", "is_buy"], path, "columns session_id, item_id, is_buy")
        if df.empty:
            raise DataFormatError(path, "no events", expected="the sampled sessions of this split")
        if df["item_id"].max() >= n_items or df["item_id"].min() < 0:
            raise DataFormatError(path, f"item ids outside [0, {n_items}) (item_num of data_statis.df)")
        parts[split] = pd.DataFrame(
            {
                "seq_id": df["session_id"].to_numpy(np.int64),
                "item": df["item_id"].to_numpy(np.int64),
                "is_buy": df["is_buy"].to_numpy(np.int8),
                "target": True,
            }
        )  # fmt: skip (already sorted by session and time in the pickles)
    return Splits(**parts, n_items=n_items, item_ids=[str(i) for i in range(n_items)], replay=replay,
                  state_len=state_len)  # fmt: skip


# --- MovieLens-100K (RecBole atomic file) ------------------------------------------------------------------------
ML_SOURCE = "the recbole==1.2.1 wheel: `make data-ml100k` (paperkit.wheeldata) writes data/ml100k/ml-100k.inter"


def load_movielens(root: Path, cache: Path, protocol: str, split_seed: int, chunk_len: int = 31,
                   min_rating_buy: float = 4.0) -> Splits:  # fmt: skip
    """MovieLens-100K user sequences ordered by timestamp; every rating is a click, ratings >= 4 are the
    purchase-like (reward 1.0) events.

    ``chunked`` (the paper's no-reward protocol): each user's sequence is cut into consecutive chunks of
    ``chunk_len`` items, the last item of a chunk is its evaluation target; chunks are split at random 70/15/15
    (the official code: 70/30 train/test, seed 50; here the 30 % is halved into validation and test).
    ``leave_last_out``: per user the last item is the test target, the second-to-last the validation target, and
    the rest trains.
    """
    path = root / "ml-100k.inter"
    if not path.is_file():
        raise DataNotFoundError("movielens", root, missing=[path.name], expected={"ml-100k.inter": None},
                                source=ML_SOURCE)  # fmt: skip
    stat = path.stat()

    def build() -> tuple[dict[str, pd.DataFrame], list[str]]:
        df = _read_csv(path, "movielens", root, {"ml-100k.inter": None}, ML_SOURCE, sep="\t")
        df.columns = [str(c).split(":")[0] for c in df.columns]
        _require(
            df, ["user_id", "item_id", "rating", "timestamp"], path, "RecBole's user_id, item_id, rating, timestamp"
        )
        df = df.assign(is_buy=(df["rating"] >= min_rating_buy).astype(np.int8), time=df["timestamp"])
        ev, items = _encode(df, "user_id", "item_id")
        ev["pos"] = ev.groupby("seq_id").cumcount()
        ev["n"] = ev["seq_id"].map(ev["seq_id"].value_counts())
        if protocol == "leave_last_out":
            ev = ev[ev["n"] >= 3]
            train = ev[ev["pos"] < ev["n"] - 2].assign(target=True)
            val = ev[ev["pos"] < ev["n"] - 1].assign(target=lambda d: d["pos"] == d["n"] - 2)
            test = ev.assign(target=ev["pos"] == ev["n"] - 1)
            parts = {"train": train, "val": val, "test": test}
        elif protocol == "chunked":
            ev = ev.assign(chunk=ev["pos"] // chunk_len)
            ev = ev[ev.groupby(["seq_id", "chunk"])["item"].transform("size") == chunk_len]  # whole chunks only
            ev = ev.assign(
                seq_id=ev.groupby(["seq_id", "chunk"]).ngroup(), target=ev["pos"] % chunk_len == chunk_len - 1
            )
            parts = session_split(ev, split_seed, (0.7, 0.15, 0.15))
            for name in ("val", "test"):
                parts[name]["target"] = parts[name]["pos"] % chunk_len == chunk_len - 1
            parts["train"]["target"] = True
        else:
            raise ValueError(f"unknown movielens protocol {protocol!r}")
        cols = ["seq_id", "item", "is_buy", "target"]
        return {k: v[cols].reset_index(drop=True) for k, v in parts.items()}, items

    settings = {"file": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns, "protocol": protocol,
                "seed": split_seed, "chunk_len": chunk_len, "min_rating_buy": min_rating_buy}  # fmt: skip
    return _cached_splits(cache, "movielens", settings, build)
