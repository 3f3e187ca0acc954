"""Embedded synthetic multi-behaviour dataset with an item knowledge graph (our construction, see the
README).

Items carry four KG attributes (brand, category, price bucket, rating bucket). Each user has peaky (Dirichlet)
preferences over every attribute's values and each behaviour weighs the attributes differently (view: category/brand,
buy: mostly price). Interactions follow a view -> cart -> buy funnel plus a few direct buys of unviewed items, with
timestamps. The generator then performs the temporal leave-one-out test split and writes everything in the CML/KMCLR
on-disk format (``trn_<behaviour>``, ``tst_int``, ``kg.txt``), which the real loader reads back.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from paperkit.synthetic import cached_dir

__all__ = [
    "SYNTHETIC_BEHAVIOURS",
    "SYNTHETIC_RELATIONS",
    "SyntheticConfig",
    "generate",
    "oracle_utility",
    "write_synthetic",
]

log = logging.getLogger(__name__)

SYNTHETIC_BEHAVIOURS = ["view", "cart", "buy"]
SYNTHETIC_RELATIONS = ["brand", "category", "price_bucket", "rating_bucket"]  # relation ids 0..3 in kg.txt
_T0 = 1_500_000_000  # unix seconds; timestamps are stored as matrix values, so they must be non-zero


@dataclass
class SyntheticConfig:
    """Generator knobs. Defaults follow the spec's §6 with the prototype's fixes (buy bias -2, z over viewed items)."""

    n_users: int = 1000
    n_items: int = 600
    n_values: tuple[int, ...] = (30, 12, 5, 5)  # brand, category, price bucket, rating bucket
    noisy_category_frac: float = 0.1  # extra (second) category triples
    dirichlet: float = 0.3
    # intent mix over (brand, category, price, rating) per behaviour
    w_view: tuple[float, ...] = (0.35, 0.45, 0.05, 0.15)
    w_cart: tuple[float, ...] = (0.3, 0.3, 0.2, 0.2)
    w_buy: tuple[float, ...] = (0.15, 0.15, 0.6, 0.1)
    intent_jitter: float = 0.05
    pop_weight: float = 0.3
    noise: float = 0.5
    n_views: int = 40
    view_temp: float = 0.5
    cart_bias: float = -1.5
    buy_bias: float = -2.0
    direct_buys: tuple[int, int] = (1, 2)
    min_buys: int = 3  # so every user has train + validation + test purchases
    hard: bool = True  # held-out test item absent from the user's training view/cart/buy
    seed: int = 0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _gumbel_topk(logits: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices sampled without replacement with probabilities softmax(logits)."""
    g = logits - np.log(-np.log(rng.uniform(1e-12, 1.0, size=logits.shape)))
    return np.argsort(-g)[:k]


def _attribute_utility(prefs: list[np.ndarray], w: np.ndarray, attrs: np.ndarray, relations) -> np.ndarray:
    """Sum over ``relations`` (indices) of w_ur * log pi_u^r(t_r(i)): the noise-free attribute part, (U, I)."""
    return sum((w[:, r : r + 1] * prefs[r][:, attrs[:, r]] for r in relations), np.zeros((w.shape[0], len(attrs))))


def generate(cfg: SyntheticConfig) -> dict:
    """Sample the dataset. Returns behaviour event lists, the held-out test items and KG triples."""
    rng = np.random.default_rng(cfg.seed)
    U, I = cfg.n_users, cfg.n_items
    R = len(cfg.n_values)
    # --- items and KG (entity ids: items 0..I-1, then the attribute values relation by relation)
    attrs = np.stack([rng.integers(0, n, size=I) for n in cfg.n_values], 1)  # (I, R)
    offsets = I + np.concatenate([[0], np.cumsum(cfg.n_values)[:-1]])
    triples = [np.stack([np.arange(I), np.full(I, r), offsets[r] + attrs[:, r]], 1) for r in range(R)]
    noisy = rng.choice(I, size=int(cfg.noisy_category_frac * I), replace=False)
    second = (attrs[noisy, 1] + rng.integers(1, cfg.n_values[1], size=len(noisy))) % cfg.n_values[1]
    triples.append(np.stack([noisy, np.full(len(noisy), 1), offsets[1] + second], 1))
    kg = np.concatenate(triples).astype(np.int64)
    log_pop = rng.normal(0.0, 1.0, size=I)  # log popularity
    # --- users: peaky preferences per relation, behaviour-specific intent weights with per-user jitter
    utils, weights = {}, {}
    prefs = [np.log(rng.dirichlet(np.full(n, cfg.dirichlet), size=U) + 1e-6) for n in cfg.n_values]  # (U, n_r)
    for name, w in (("view", cfg.w_view), ("cart", cfg.w_cart), ("buy", cfg.w_buy)):
        wu = np.clip(np.asarray(w)[None, :] + cfg.intent_jitter * rng.normal(size=(U, R)), 0.0, None)
        wu /= wu.sum(1, keepdims=True)
        weights[name] = wu
        s = _attribute_utility(prefs, wu, attrs, range(R))
        utils[name] = s + cfg.pop_weight * log_pop[None, :] + cfg.noise * rng.normal(size=(U, I))
    events: dict[str, list[tuple[int, int, int]]] = {b: [] for b in SYNTHETIC_BEHAVIOURS}
    test_items: list[int | None] = []
    for u in range(U):
        viewed = _gumbel_topk(utils["view"][u] / cfg.view_temp, cfg.n_views, rng)
        t_view = np.sort(rng.integers(0, 90 * 86400, size=len(viewed)))
        rng.shuffle(t_view)
        zc = utils["cart"][u, viewed]
        zc = (zc - zc.mean()) / (zc.std() + 1e-9)
        zb = utils["buy"][u, viewed]
        zb = (zb - zb.mean()) / (zb.std() + 1e-9)
        carted = rng.uniform(size=len(viewed)) < _sigmoid(2 * zc + cfg.cart_bias)
        bought = carted & (rng.uniform(size=len(viewed)) < _sigmoid(2 * zb + cfg.buy_bias))
        u_events = {b: [] for b in SYNTHETIC_BEHAVIOURS}
        for k, i in enumerate(viewed):
            t = int(t_view[k])
            u_events["view"].append((int(i), t))
            if carted[k]:
                tc = t + int(rng.integers(60, 3 * 86400))
                u_events["cart"].append((int(i), tc))
                if bought[k]:
                    u_events["buy"].append((int(i), tc + int(rng.integers(60, 3 * 86400))))
        n_direct = int(rng.integers(cfg.direct_buys[0], cfg.direct_buys[1] + 1))
        n_direct = max(n_direct, cfg.min_buys - len(u_events["buy"]))
        unviewed_mask = np.ones(I, bool)
        unviewed_mask[viewed] = False
        logits = np.where(unviewed_mask, utils["buy"][u] / cfg.view_temp, -np.inf)
        for i in _gumbel_topk(logits, n_direct, rng):
            u_events["buy"].append((int(i), int(rng.integers(0, 96 * 86400))))
        # temporal leave-one-out on buy: the latest purchase is the test item
        buys = sorted(u_events["buy"], key=lambda e: e[1])
        test_i, test_t = buys[-1]
        test_items.append(test_i)
        for b in SYNTHETIC_BEHAVIOURS:
            kept = []
            for i, t in u_events[b]:
                if i == test_i and (b == "buy" or cfg.hard or t > test_t):
                    continue  # hard: no train trace of the test item; plain: drop aux events after the test buy
                kept.append((i, t))
            events[b].extend((u, i, t + _T0) for i, t in kept)
    # the noise-free ingredients of the utilities, for oracle rankings (``oracle_utility``)
    truth = {"prefs": prefs, "weights": weights, "log_pop": log_pop}
    return {"events": events, "test": test_items, "kg": kg, "attrs": attrs, "n_users": U, "n_items": I, "truth": truth}


def oracle_utility(
    out: dict, cfg: SyntheticConfig, behaviour: str = "buy", relations: list[str] | None = None, pop: bool = True
) -> np.ndarray:
    """Noise-free utility (U, I) of ``behaviour`` from the generator's ground truth, restricted to ``relations``.

    ``relations=None`` uses all four attribute terms; ``pop`` adds the popularity term. Used to measure how much of
    the achievable ranking quality each attribute carries (e.g. what a perfect model without price could reach).
    """
    truth = out["truth"]
    keep = SYNTHETIC_RELATIONS if relations is None else relations
    idx = [r for r, name in enumerate(SYNTHETIC_RELATIONS) if name in keep]
    s = _attribute_utility(truth["prefs"], truth["weights"][behaviour], out["attrs"], idx)
    if pop:
        s += cfg.pop_weight * truth["log_pop"][None, :]
    return s


def _matrix(ev: list[tuple[int, int, int]], shape: tuple[int, int]) -> sp.csr_matrix:
    arr = np.asarray(ev, dtype=np.int64).reshape(-1, 3)
    # duplicates (same user-item twice) keep the latest timestamp
    m = sp.coo_matrix((arr[:, 2].astype(np.float64), (arr[:, 0], arr[:, 1])), shape=shape).tocsr()
    m.sum_duplicates()
    dup = sp.coo_matrix((np.ones(len(arr)), (arr[:, 0], arr[:, 1])), shape=shape).tocsr()
    if dup.max() > 1:
        order = np.argsort(arr[:, 2])
        last = {(u, i): t for u, i, t in arr[order]}
        keys = np.asarray(list(last.keys())).reshape(-1, 2)
        m = sp.csr_matrix((np.asarray(list(last.values()), np.float64), (keys[:, 0], keys[:, 1])), shape=shape)
    return m


def write_synthetic(root: str | Path, cfg: SyntheticConfig | None = None) -> Path:
    """The dataset in the CML/KMCLR format under ``root/synthetic-<key of the settings>/`` (generated once,
    atomically, by :func:`paperkit.synthetic.cached_dir`; returns that folder).

    Files: ``trn_view``, ``trn_cart``, ``trn_buy`` (pickled ``scipy.sparse.csr_matrix`` users x items with unix
    timestamps as values), ``tst_int`` (pickled list: test item per user), ``kg.txt`` ("h r t" per line) and
    ``settings.json`` (the generator settings).
    """
    cfg = cfg or SyntheticConfig()

    def write(folder: Path) -> None:
        out = generate(cfg)
        shape = (out["n_users"], out["n_items"])
        for b in SYNTHETIC_BEHAVIOURS:
            (folder / f"trn_{b}").write_bytes(pickle.dumps(_matrix(out["events"][b], shape)))
        (folder / "tst_int").write_bytes(pickle.dumps(out["test"]))
        (folder / "kg.txt").write_text("".join(f"{h} {r} {t}\n" for h, r, t in out["kg"]))
        n = sum(len(v) for v in out["events"].values())
        log.info("Wrote the synthetic dataset (%d users, %d items, %d interactions)", *shape, n)

    return cached_dir(root, "synthetic", {**asdict(cfg), "format": 1}, write)
