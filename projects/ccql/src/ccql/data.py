"""Replay-buffer transitions and the DataModule (paper Sec. 3, "MDP"; SQN's replay buffer).

A transition is built for every event of a training sequence: state = the (up to) ``state_len`` items before it,
right-padded with pad = n_items (an empty history is an all-pad state of length 1, as in SQN), action = the event's
item, ``is_buy``, next state = the state after the event, ``done`` on the sequence's last event. Evaluation rows are
the ``target`` events of the val/test sequences, each predicted from its prefix, with the sequence length (for the
long-session subset).

``predict`` reads a user's sessions: ``--data.predict_file sessions.csv`` (columns ``session_id,item_id`` in event
order, one row per event; item ids as in the training data) or ``--data.predict_items [3,17,42]`` (one session).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from ccql.datasets import (
    Splits,
    load_movielens,
    load_retailrocket,
    load_sqn_pickles,
    load_synthetic,
    load_yoochoose,
)
from ccql.synthetic import SyntheticConfig
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["CCQLDataModule", "TensorDictDataset", "eval_rows", "transitions"]

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


def _windows(items: np.ndarray, seq: np.ndarray, state_len: int, pad: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """For every event i: the (up to) state_len items of its sequence strictly before i + shift, right-padded.
    (N, L) states and (N,) lengths (>= 1)."""
    n = len(items)
    first = np.zeros(n, dtype=np.int64)  # index of the sequence's first event
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    first[starts] = starts
    first = np.maximum.accumulate(first)
    end = np.arange(n) + shift  # exclusive
    k = np.minimum(end - first, state_len)  # (N,) history length
    src = end[:, None] - k[:, None] + np.arange(state_len)[None]  # (N, L)
    valid = np.arange(state_len)[None] < k[:, None]
    padded = np.append(items, pad)
    state = np.where(valid, padded[np.clip(src, 0, n)], pad)
    return state, np.maximum(k, 1)


def transitions(events: pd.DataFrame, state_len: int, pad: int) -> dict[str, np.ndarray]:
    """SQN replay buffer of a training split (events sorted by sequence)."""
    items, seq = events["item"].to_numpy(np.int64), events["seq_id"].to_numpy(np.int64)
    state, length = _windows(items, seq, state_len, pad, 0)
    nxt, nlen = _windows(items, seq, state_len, pad, 1)
    done = np.r_[seq[1:] != seq[:-1], True]
    return {"state": state, "len_state": length, "action": items, "is_buy": events["is_buy"].to_numpy(np.int64),
            "next_state": nxt, "len_next": nlen, "done": done}  # fmt: skip


def eval_rows(events: pd.DataFrame, state_len: int, pad: int) -> dict[str, np.ndarray]:
    """Evaluation rows: every ``target`` event predicted from its prefix, with its sequence's length."""
    items, seq = events["item"].to_numpy(np.int64), events["seq_id"].to_numpy(np.int64)
    state, length = _windows(items, seq, state_len, pad, 0)
    seq_len = events.groupby("seq_id")["item"].transform("size").to_numpy(np.int64)
    keep = events["target"].to_numpy(bool)
    out = {"state": state, "len_state": length, "action": items, "is_buy": events["is_buy"].to_numpy(np.int64),
           "seq_len": seq_len}  # fmt: skip
    return {k: v[keep] for k, v in out.items()}


def _replay_arrays(replay: pd.DataFrame, state_len: int, pad: int, path: Path) -> dict[str, np.ndarray]:
    try:
        state = np.stack(replay["state"].map(np.asarray).to_list()).astype(np.int64)
        nxt = np.stack(replay["next_state"].map(np.asarray).to_list()).astype(np.int64)
    except ValueError as err:
        raise DataFormatError(path, f"state lists of unequal length ({err})") from None
    if state.shape[1] != state_len or nxt.shape[1] != state_len:
        raise DataFormatError(path, f"states of length {state.shape[1]}, data_statis.df says {state_len}")
    return {"state": state, "len_state": replay["len_state"].to_numpy(np.int64),
            "action": replay["action"].to_numpy(np.int64), "is_buy": replay["is_buy"].to_numpy(np.int64),
            "next_state": nxt, "len_next": replay["len_next_states"].to_numpy(np.int64),
            "done": replay["is_done"].to_numpy(bool)}  # fmt: skip


class TensorDictDataset(Dataset):
    """Rows of a dict of equal-length tensors; ``__getitems__`` fetches a whole batch with one indexing op."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.t = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
        self.n = len(next(iter(self.t.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Batch:
        return {k: v[i] for k, v in self.t.items()}

    def __getitems__(self, idx: list[int]) -> Batch:
        ix = torch.as_tensor(idx)
        return {k: v[ix] for k, v in self.t.items()}


def _identity(batch: Batch) -> Batch:
    return batch


class CCQLDataModule(LightningDataModule):
    """Sessions -> transitions (train) and full-ranking evaluation rows (val/test)."""

    def __init__(
        self,
        dataset: Literal["synthetic", "retailrocket", "yoochoose", "sqn_pickles", "movielens"] = "synthetic",
        root: str | None = None,
        cache_dir: str = "data/cache/ccql",
        state_len: int = 10,
        batch_size: int = 256,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        split_seed: int = 0,
        long_session_len: int = 40,
        movielens_protocol: Literal["chunked", "leave_last_out"] = "chunked",
        yoochoose_sessions: int = 200_000,
        synthetic_sessions: int = 2000,
        synthetic_seed: int = 0,
        predict_file: str | None = None,
        predict_items: list[int] | None = None,
        top_k: int = 10,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self._splits: Splits | None = None
        self._state_len = state_len

    # --- sizes linked into the model -------------------------------------------------------------------------------
    @property
    def splits(self) -> Splits:
        if self._splits is None:
            self._splits = self._load()
            if self._splits.state_len is not None and self._splits.state_len != self._state_len:
                log.info("state_len %d from data_statis.df (config: %d)", self._splits.state_len, self._state_len)
                self._state_len = self._splits.state_len
        return self._splits

    @property
    def n_items(self) -> int:
        return self.splits.n_items

    @property
    def state_len(self) -> int:
        _ = self.splits
        return self._state_len

    @property
    def item_ids(self) -> list[str]:
        return self.splits.item_ids

    def _root(self, name: str) -> Path:
        if not self.hparams.root:
            raise DataNotFoundError(name, "<unset>", hint=f"Pass --data.root <folder> for --data.dataset {name}.")
        return Path(self.hparams.root)

    def _load(self) -> Splits:
        h = self.hparams
        cache = Path(h.cache_dir)
        if h.dataset == "synthetic":
            cfg = SyntheticConfig(n_sessions=h.synthetic_sessions, seed=h.synthetic_seed)
            return load_synthetic(cfg, cache, h.split_seed)
        if h.dataset == "retailrocket":
            return load_retailrocket(self._root("retailrocket"), cache, h.split_seed)
        if h.dataset == "yoochoose":
            return load_yoochoose(self._root("yoochoose"), cache, h.split_seed, n_sessions=h.yoochoose_sessions)
        if h.dataset == "sqn_pickles":
            return load_sqn_pickles(self._root("sqn_pickles"))
        return load_movielens(self._root("movielens"), cache, h.movielens_protocol, h.split_seed)

    # --- datasets ----------------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        s, pad = self.splits, self.splits.n_items
        if stage in (None, "fit") and not hasattr(self, "train_set"):
            if s.replay is not None:
                arrays = _replay_arrays(
                    s.replay, self.state_len, pad, Path(self.hparams.root or "") / "replay_buffer.df"
                )
            else:
                arrays = transitions(s.train, self.state_len, pad)
            self.train_set = TensorDictDataset(arrays)
        for split in ("val", "test"):
            if stage in (None, "fit", "validate", "test") and not hasattr(self, f"{split}_set"):
                rows = eval_rows(s.split(split), self.state_len, pad)
                rows["long"] = rows.pop("seq_len") > self.hparams.long_session_len
                setattr(self, f"{split}_set", TensorDictDataset(rows))
        if stage == "predict":
            self.predict_set = TensorDictDataset(self._predict_rows())

    def train_popularity(self) -> torch.Tensor:
        """Counts of each item as a training action (N,) (the popularity baseline)."""
        items = torch.from_numpy(self.splits.train["item"].to_numpy(np.int64, copy=True))
        return torch.bincount(items, minlength=self.n_items)

    def _loader(self, ds: Dataset, shuffle: bool, batch_size: int) -> DataLoader:
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=self.hparams.num_workers,
                          collate_fn=_identity)  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False, self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.hparams.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, False, self.hparams.eval_batch_size)

    # --- predict: users' sessions --------------------------------------------------------------------------------
    def _predict_sessions(self) -> tuple[list[str], list[list[str]]]:
        h = self.hparams
        if h.predict_items is not None:
            return ["0"], [[str(i) for i in h.predict_items]]
        if not h.predict_file:
            raise DataNotFoundError("predict sessions", ".", hint="Pass --data.predict_file sessions.csv (columns "
                                    "session_id,item_id) or --data.predict_items [id, id, ...].")  # fmt: skip
        path = Path(h.predict_file)
        if not path.is_file():
            raise DataNotFoundError("predict sessions", path.parent, missing=[path.name],
                                    expected={path.name: None}, hint="A CSV: columns session_id,item_id.")  # fmt: skip
        try:
            df = pd.read_csv(path, dtype=str)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
            raise DataFormatError(path, f"not a readable CSV ({type(err).__name__})",
                                  expected="columns session_id,item_id, one row per event") from None  # fmt: skip
        if not {"session_id", "item_id"} <= set(df.columns):
            raise DataFormatError(path, f"columns {list(df.columns)[:5]}", expected="columns session_id,item_id")
        groups = df.groupby("session_id", sort=False)["item_id"]
        return [str(k) for k in groups.groups], [list(v) for _, v in groups]

    def _predict_rows(self) -> dict[str, np.ndarray]:
        names, sessions = self._predict_sessions()
        index = {iid: i for i, iid in enumerate(self.item_ids)}
        pad, length = self.n_items, self.state_len
        state = np.full((len(sessions), length), pad, dtype=np.int64)
        lens = np.ones(len(sessions), dtype=np.int64)
        for r, (name, items) in enumerate(zip(names, sessions)):
            known = [index[i] for i in items if i in index]
            if len(known) < len(items):
                unknown = [i for i in items if i not in index][:5]
                log.warning("session %s: item id(s) %s are not in the training catalogue; ignored", name, unknown)
            if not known:
                source = self.hparams.predict_file or "--data.predict_items"
                raise DataFormatError(source, f"session {name!r} has no item id of the training catalogue",
                                      expected=f"item ids like {self.item_ids[:3]}")  # fmt: skip
            known = known[-length:]
            state[r, : len(known)] = known
            lens[r] = len(known)
        self.predict_names = names
        return {"state": state, "len_state": lens, "row": np.arange(len(sessions))}
