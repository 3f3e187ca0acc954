"""The embedded synthetic session data set: long sessions, delayed state-dependent rare purchases, and popular items
that are clicked but never bought (the structure CCQL's reward weighting is meant to exploit).

Catalogue: ``n_topics`` topics of ``items_per_topic`` items. Each topic has a "path": from path position i the next
click is i + 1 (p ``p_path``), a random item of the topic (p ``p_topic``), or a popular item (the rest). Popular items
(``n_popular`` per topic, Zipf-weighted over all topics) are noise: the path position stays where it was, they are
never bought. The topic drifts with probability ``p_drift`` per step. A purchase happens only after ``min_streak``
consecutive on-topic, non-popular events: with probability ``p_buy`` the event is then a purchase of the buyable item
(``n_buyable`` per topic, spread along the path) nearest the path position where that streak *started* (a delayed
dependence: the item that decides the purchase lies ``min_streak`` or more events back), and the streak restarts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["SyntheticConfig", "generate_events"]

GENERATOR_VERSION = 2


@dataclass(frozen=True)
class SyntheticConfig:
    n_sessions: int = 2000
    n_topics: int = 8
    items_per_topic: int = 50
    n_popular: int = 2
    n_buyable: int = 5
    min_len: int = 20
    max_len: int = 60
    p_path: float = 0.5
    p_topic: float = 0.3
    p_drift: float = 0.08
    min_streak: int = 4
    p_buy: float = 0.25
    seed: int = 0

    def settings(self) -> dict:
        return {"version": GENERATOR_VERSION, **asdict(self)}

    @property
    def n_items(self) -> int:
        return self.n_topics * self.items_per_topic


def generate_events(cfg: SyntheticConfig) -> pd.DataFrame:
    """Events sorted by (session_id, timestamp): session_id, item_id, is_buy, timestamp (the SQN ``sorted_events``)."""
    rng = np.random.default_rng(cfg.seed)
    t, m = cfg.n_topics, cfg.items_per_topic
    n_path = m - cfg.n_popular  # path items of a topic: local ids 0..n_path-1; popular ones after them
    popular = np.array([k * m + n_path + j for k in range(t) for j in range(cfg.n_popular)])
    zipf = 1.0 / np.arange(1, len(popular) + 1)
    zipf /= zipf.sum()
    buy_pos = np.linspace(0, n_path - 1, cfg.n_buyable + 2)[1:-1].round().astype(int)  # buyable path positions
    lengths = rng.integers(cfg.min_len, cfg.max_len + 1, size=cfg.n_sessions)
    total = int(lengths.sum())
    # every random number drawn up front (a Python loop over pre-drawn floats is ~50x faster than rng calls)
    u_drift, u_buy, u_move = rng.random(total).tolist(), rng.random(total).tolist(), rng.random(total).tolist()
    new_topic = rng.integers(t, size=total).tolist()
    new_pos = rng.integers(n_path, size=total).tolist()
    jump_pos = rng.integers(n_path, size=total).tolist()
    noise = popular[rng.choice(len(popular), size=total, p=zipf)].tolist()
    start_topic = rng.integers(t, size=cfg.n_sessions).tolist()
    start_pos = rng.integers(n_path, size=cfg.n_sessions).tolist()
    nearest = [int(buy_pos[np.abs(buy_pos - p).argmin()]) for p in range(n_path)]
    sess = np.repeat(np.arange(cfg.n_sessions), lengths)
    items = [0] * total
    buys = [0] * total
    k = 0
    for s, length in enumerate(lengths.tolist()):
        topic, pos, streak, anchor = start_topic[s], start_pos[s], 0, start_pos[s]
        for _ in range(length):
            if u_drift[k] < cfg.p_drift:
                topic, pos, streak = new_topic[k], new_pos[k], 0
            if streak >= cfg.min_streak and u_buy[k] < cfg.p_buy:
                items[k], buys[k], streak = topic * m + nearest[anchor], 1, 0
                k += 1
                continue
            if u_move[k] < cfg.p_path:
                pos = (pos + 1) % n_path
            elif u_move[k] < cfg.p_path + cfg.p_topic:
                pos = jump_pos[k]
            else:  # a popular noise click: position kept, streak broken
                items[k], streak = noise[k], 0
                k += 1
                continue
            if streak == 0:
                anchor = pos  # the first event of a streak decides its purchase
            items[k], streak = topic * m + pos, streak + 1
            k += 1
    n = total
    return pd.DataFrame(
        {
            "session_id": np.asarray(sess, dtype=np.int64),
            "item_id": np.asarray(items, dtype=np.int64),
            "is_buy": np.asarray(buys, dtype=np.int8),
            "timestamp": np.arange(n, dtype=np.int64),
        }
    )
