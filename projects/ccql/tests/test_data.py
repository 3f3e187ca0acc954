"""Transitions, the synthetic generator, and every real-format loader on a fixture in its official format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ccql.data import CCQLDataModule, eval_rows, transitions
from ccql.datasets import load_movielens, load_retailrocket, load_sqn_pickles, load_yoochoose
from ccql.synthetic import SyntheticConfig, generate_events
from paperkit.errors import DataFormatError, DataNotFoundError

PAD = 9


def test_transitions_by_hand() -> None:
    ev = pd.DataFrame({"seq_id": [0, 0, 0, 1, 1], "item": [3, 4, 5, 6, 7], "is_buy": [0, 1, 0, 0, 0]})
    tr = transitions(ev, state_len=2, pad=PAD)
    assert tr["state"].tolist() == [[PAD, PAD], [3, PAD], [3, 4], [PAD, PAD], [6, PAD]]
    assert tr["len_state"].tolist() == [1, 1, 2, 1, 1]  # an empty history reads position 0 (SQN)
    assert tr["next_state"].tolist() == [[3, PAD], [3, 4], [4, 5], [6, PAD], [6, 7]]
    assert tr["len_next"].tolist() == [1, 2, 2, 1, 2]
    assert tr["done"].tolist() == [False, False, True, False, True]
    assert tr["action"].tolist() == [3, 4, 5, 6, 7] and tr["is_buy"].tolist() == [0, 1, 0, 0, 0]


def test_eval_rows_keep_targets_and_sequence_lengths() -> None:
    ev = pd.DataFrame({"seq_id": [0, 0, 0, 1, 1], "item": [3, 4, 5, 6, 7], "is_buy": 0,
                       "target": [False, False, True, False, True]})  # fmt: skip
    rows = eval_rows(ev, 10, PAD)
    assert rows["action"].tolist() == [5, 7] and rows["seq_len"].tolist() == [3, 2]
    assert rows["state"][0, :3].tolist() == [3, 4, PAD] and rows["len_state"].tolist() == [2, 1]


def test_synthetic_is_deterministic_and_has_the_designed_structure() -> None:
    cfg = SyntheticConfig(n_sessions=300)
    a, b = generate_events(cfg), generate_events(cfg)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_events(SyntheticConfig(n_sessions=300, seed=1)))
    lengths = a.groupby("session_id").size()
    assert lengths.min() >= cfg.min_len and lengths.max() <= cfg.max_len
    assert 0.02 < a["is_buy"].mean() < 0.08  # rare purchases
    m = cfg.items_per_topic
    popular = a["item_id"] % m >= m - cfg.n_popular
    assert popular.mean() > 0.1 and a.loc[popular, "is_buy"].sum() == 0  # popular items clicked, never bought
    assert a.loc[a["is_buy"] == 1, "item_id"].nunique() <= cfg.n_topics * cfg.n_buyable


def test_retailrocket_preprocessing(retailrocket_dir: Path, tmp_path: Path) -> None:
    s = load_retailrocket(retailrocket_dir, tmp_path / "cache", split_seed=0)
    raw = pd.read_csv(retailrocket_dir / "events.csv")
    allev = pd.concat([s.train, s.val, s.test])
    assert "1011" not in s.item_ids  # < 3 events
    assert s.n_items == len(s.item_ids) == allev["item"].nunique()
    kept = raw[raw["transactionid"].isna() & (raw["visitorid"] > 2) & (raw["itemid"] != 1011)]
    assert len(allev) == len(kept)  # transaction rows and the tiny visitors dropped
    assert allev["is_buy"].sum() == (kept["event"] == "addtocart").sum()  # purchase := addtocart
    n_sess = [df["seq_id"].nunique() for df in (s.train, s.val, s.test)]
    assert n_sess == [32, 4, 4]  # 8:1:1 by session
    assert not set(s.train["seq_id"]) & set(s.val["seq_id"])
    again = load_retailrocket(retailrocket_dir, tmp_path / "cache", split_seed=0)  # from the Parquet cache
    pd.testing.assert_frame_equal(again.train, s.train)
    assert len(list((tmp_path / "cache").glob("retailrocket-*/train.parquet"))) == 1


def test_retailrocket_bad_inputs(retailrocket_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"events\.csv"):
        load_retailrocket(tmp_path / "nowhere", tmp_path / "c", 0)
    df = pd.read_csv(retailrocket_dir / "events.csv")
    df.drop(columns=["itemid"]).to_csv(retailrocket_dir / "events.csv", index=False)
    with pytest.raises(DataFormatError, match="itemid"):
        load_retailrocket(retailrocket_dir, tmp_path / "c1", 0)
    df.assign(event="like").to_csv(retailrocket_dir / "events.csv", index=False)
    with pytest.raises(DataFormatError, match="unknown event type"):
        load_retailrocket(retailrocket_dir, tmp_path / "c2", 0)
    df.head(4).to_csv(retailrocket_dir / "events.csv", index=False)
    with pytest.raises(DataFormatError, match=r"empty|no events left"):
        load_retailrocket(retailrocket_dir, tmp_path / "c3", 0)


def test_yoochoose_preprocessing(yoochoose_dir: Path, tmp_path: Path) -> None:
    s = load_yoochoose(yoochoose_dir, tmp_path / "cache", split_seed=0, n_sessions=20)
    allev = pd.concat([s.train, s.val, s.test])
    assert allev["seq_id"].nunique() == 20  # sampled sessions
    assert allev["is_buy"].sum() > 0 and (allev.groupby("seq_id")["is_buy"].sum() <= 1).all()
    buys = allev[allev["is_buy"] == 1]
    last = allev.groupby("seq_id").tail(1)
    assert set(buys.index) <= set(last.index) or len(buys) == 0  # a buy happens after the session's clicks
    assert all(i.startswith("21453") for i in s.item_ids)
    with pytest.raises(DataNotFoundError, match=r"yoochoose-buys\.dat"):
        (yoochoose_dir / "yoochoose-buys.dat").unlink()
        load_yoochoose(yoochoose_dir, tmp_path / "c2", 0)


def test_sqn_pickles_import(sqn_dir: Path) -> None:
    s = load_sqn_pickles(sqn_dir)
    assert s.n_items == 20 and s.state_len == 10 and s.replay is not None
    dm = CCQLDataModule(dataset="sqn_pickles", root=str(sqn_dir))
    dm.setup("fit")
    assert len(dm.train_set) == len(s.replay) and dm.n_items == 20
    batch = dm.train_set.__getitems__([0, 1, 2])
    assert batch["state"].shape == (3, 10) and len(dm.val_set) == len(s.val)
    (sqn_dir / "replay_buffer.df").write_bytes(b"\x00garbage")
    with pytest.raises(DataFormatError, match=r"replay_buffer\.df"):
        load_sqn_pickles(sqn_dir)
    (sqn_dir / "data_statis.df").unlink()
    with pytest.raises(DataNotFoundError, match=r"data_statis\.df"):
        load_sqn_pickles(sqn_dir)


@pytest.mark.parametrize("protocol", ["chunked", "leave_last_out"])
def test_movielens_protocols(movielens_dir: Path, tmp_path: Path, protocol: str) -> None:
    s = load_movielens(movielens_dir, tmp_path / "cache", protocol, split_seed=0)
    raw = pd.read_csv(movielens_dir / "ml-100k.inter", sep="\t")
    assert s.n_items == raw["item_id:token"].nunique()
    if protocol == "leave_last_out":
        assert s.test["target"].sum() == 12 and s.val["target"].sum() == 12  # one target per user
        assert (s.train.groupby("seq_id").size() + 2 == s.test.groupby("seq_id").size()).all()
        assert s.test.groupby("seq_id")["target"].apply(lambda t: bool(t.iloc[-1])).all()
    else:
        for df in (s.train, s.val, s.test):
            assert (df.groupby("seq_id").size() == 31).all()  # whole 31-item chunks
        assert (s.test.groupby("seq_id")["target"].sum() == 1).all()
        n = [df["seq_id"].nunique() for df in (s.train, s.val, s.test)]
        assert abs(n[0] / sum(n) - 0.7) < 0.15
    buys = pd.concat([s.train, s.val, s.test])["is_buy"].mean()
    assert 0.2 < buys < 0.6  # ratings 4-5 of uniform 1-5 in the fixture


def test_datamodule_synthetic_batches(tmp_path: Path) -> None:
    dm = CCQLDataModule(synthetic_sessions=100, cache_dir=str(tmp_path), batch_size=16)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["state"].shape == (16, 10) and batch["state"].max() <= dm.n_items
    assert set(batch) == {"state", "len_state", "action", "is_buy", "next_state", "len_next", "done"}
    val = next(iter(dm.val_dataloader()))
    assert set(val) == {"state", "len_state", "action", "is_buy", "long"}
    assert np.isclose(len(dm.val_set) / (len(dm.train_set) + len(dm.val_set) + len(dm.test_set)), 0.1, atol=0.05)
