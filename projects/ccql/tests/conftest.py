"""Fixture writers in the official on-disk formats: Kaggle RetailRocket ``events.csv``, RecSys 2015 ``yoochoose-
{clicks,buys}.dat``, the SQN/SA2C preprocessed pickles, and RecBole's ``ml-100k.inter`` atomic file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ccql.data import transitions


@pytest.fixture
def retailrocket_dir(tmp_path: Path) -> Path:
    """40 visitors x 4-7 events on items 1000..1011 (item 1011 seen twice only: filtered), plus transaction rows."""
    rng = np.random.default_rng(0)
    rows, t = [], 1433221332117
    for v in range(40):
        for _ in range(int(rng.integers(4, 8))):
            item = 1000 + int(rng.integers(0, 11))
            event = "addtocart" if rng.random() < 0.2 else "view"
            rows.append((t, 257597 + v, event, item, ""))
            t += 1000
        if v % 5 == 0:  # a transaction row: dropped by the SQN preprocessing
            rows.append((t, 257597 + v, "transaction", 1000, "4000"))
    rows += [(t + 1, 1, "view", 1011, ""), (t + 2, 2, "view", 1011, "")]  # a rare item and two tiny visitors
    folder = tmp_path / "retailrocket"
    folder.mkdir()
    df = pd.DataFrame(rows, columns=["timestamp", "visitorid", "event", "itemid", "transactionid"])
    df.to_csv(folder / "events.csv", index=False)
    return folder


@pytest.fixture
def yoochoose_dir(tmp_path: Path) -> Path:
    """yoochoose-clicks.dat (session, ISO time, item, category) and yoochoose-buys.dat (session, time, item, price,
    quantity), comma-separated without a header."""
    rng = np.random.default_rng(1)
    clicks, buys = [], []
    for s in range(1, 31):
        n = int(rng.integers(3, 7))
        items = rng.integers(214530000, 214530008, size=n)
        for j, it in enumerate(items):
            clicks.append(f"{s},2014-04-07T10:{j:02d}:09.277Z,{it},0")
        if s % 3 == 0:
            buys.append(f"{s},2014-04-07T10:59:09.868Z,{items[0]},1046,1")
    folder = tmp_path / "yoochoose"
    folder.mkdir()
    (folder / "yoochoose-clicks.dat").write_text("\n".join(clicks) + "\n")
    (folder / "yoochoose-buys.dat").write_text("\n".join(buys) + "\n")
    return folder


@pytest.fixture
def sqn_dir(tmp_path: Path) -> Path:
    """The SQN pickles: replay_buffer.df (lists of 10 ints), data_statis.df, sampled_{train,val,test}.df."""
    rng = np.random.default_rng(2)
    n_items = 20
    folder = tmp_path / "RC15"
    folder.mkdir()
    for split, n_sess in (("train", 40), ("val", 8), ("test", 8)):
        sess = np.repeat(np.arange(n_sess), rng.integers(3, 9, size=n_sess))
        df = pd.DataFrame({"session_id": sess, "item_id": rng.integers(0, n_items, size=len(sess)),
                           "is_buy": (rng.random(len(sess)) < 0.2).astype(int)})  # fmt: skip
        df.to_pickle(folder / f"sampled_{split}.df")
        if split == "train":
            ev = pd.DataFrame({"seq_id": df["session_id"], "item": df["item_id"], "is_buy": df["is_buy"]})
            tr = transitions(ev, 10, n_items)
            replay = pd.DataFrame({"state": list(map(list, tr["state"])), "len_state": tr["len_state"],
                                   "action": tr["action"], "is_buy": tr["is_buy"],
                                   "next_state": list(map(list, tr["next_state"])), "len_next_states": tr["len_next"],
                                   "is_done": tr["done"]})  # fmt: skip
            replay.to_pickle(folder / "replay_buffer.df")
    pd.DataFrame({"state_size": [10], "item_num": [n_items]}).to_pickle(folder / "data_statis.df")
    return folder


@pytest.fixture
def movielens_dir(tmp_path: Path) -> Path:
    """RecBole's ml-100k.inter: tab-separated, typed header; 12 users with 35-70 ratings each."""
    rng = np.random.default_rng(3)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(1, 13):
        for j in range(int(rng.integers(35, 71))):
            lines.append(f"{u}\t{int(rng.integers(1, 60))}\t{int(rng.integers(1, 6))}\t{881250949 + 100 * j + u}")
    folder = tmp_path / "ml100k"
    folder.mkdir()
    (folder / "ml-100k.inter").write_text("\n".join(lines) + "\n")
    return folder
