"""``python -m kamcl.bench``: training-step time and peak memory on a synthetic graph of Tmall's size (README,
"Benchmark").

Tmall in the CML release: ~32k users, ~31k items, ~2M interactions over 4 behaviours (pv, fav, cart, buy). We draw a
random graph of that size (``--scale 1``; interactions split 80/7/7/6 % across pv/fav/cart/buy, popularity-skewed
items) and a 4-relation KG (one tail per relation per item), then time full-graph KAMCL training steps (BPR batch of
2048 purchases, both contrastive losses) against ``torch_geometric.nn.LightGCN`` on the merged graph in the same
process: (a) as PyG documents it (``edge_index`` input, normalised inside every call, its ``recommendation_loss``),
(b) our pre-normalised sparse ``MergedLightGCN`` baseline. An epoch = (#purchases / 2048) steps.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.nn import LightGCN

from kamcl.graph import Graph, bipartite_adj
from kamcl.module import KAMCLModule
from paperkit.bench import BenchTarget, bench_arg_parser, compare, write_bench
from paperkit.errors import run_script
from paperkit.report import markdown_table

__all__ = ["main", "tmall_like_graph"]

log = logging.getLogger(__name__)

TMALL = {"users": 31882, "items": 31232, "interactions": 2_000_000}
SHARES = {"pv": 0.80, "fav": 0.07, "cart": 0.07, "buy": 0.06}


def tmall_like_graph(scale: float = 1.0, seed: int = 0, n_relations: int = 4, n_values: int = 50) -> dict:
    """Random multi-behaviour graph with Tmall's sizes times ``scale`` (users, items and interactions)."""
    rng = np.random.default_rng(seed)
    U, I = max(int(TMALL["users"] * scale), 10), max(int(TMALL["items"] * scale), 10)
    item_p = rng.permutation(np.arange(1, I + 1) ** -0.7)  # power-law item popularity (mild, few duplicates)
    item_p /= item_p.sum()
    mats = {}
    for b, share in SHARES.items():
        n = int(TMALL["interactions"] * scale * share)
        m = sp.csr_matrix((np.ones(n), (rng.integers(0, U, n), rng.choice(I, size=n, p=item_p))), shape=(U, I))
        m.data[:] = 1.0
        mats[b] = m
    kg = np.concatenate(
        [
            np.stack([np.arange(I), np.full(I, r), I + r * n_values + rng.integers(0, n_values, I)], 1)
            for r in range(n_relations)
        ]
    )
    return {"mats": mats, "kg": kg, "U": U, "I": I, "E": I + n_relations * n_values, "R": n_relations}


def _build(g: dict) -> tuple[Graph, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    U, I = g["U"], g["I"]
    adj = []
    for m in g["mats"].values():
        coo = m.tocoo()
        adj.append(bipartite_adj(torch.from_numpy(coo.row).long(), torch.from_numpy(coo.col).long(), U, I))
    merged = sum(g["mats"].values()).tocoo()
    mu, mi = torch.from_numpy(merged.row).long(), torch.from_numpy(merged.col).long()
    buy = g["mats"]["buy"].tocoo()
    bu, bi = torch.from_numpy(buy.row).long(), torch.from_numpy(buy.col).long()
    pop = torch.from_numpy(np.asarray(g["mats"]["buy"].sum(0)).ravel().astype(np.float32))
    graph = Graph(adj=adj, adj_merged=bipartite_adj(mu, mi, U, I), kg=torch.from_numpy(g["kg"]).long(), target_pop=pop)
    edge_index = torch.stack([torch.cat([mu, mi + U]), torch.cat([mi + U, mu])])  # PyG's input: both directions
    keys = (bu * I + bi).sort().values
    return graph, edge_index, bu, bi, keys


def main(args: list[str] | None = None) -> list[dict]:
    p = bench_arg_parser("KAMCL training step vs torch_geometric LightGCN on a Tmall-sized synthetic graph")
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="fraction of Tmall's size (1.0 = ~32k users/31k items/2M interactions); default 1.0 on CUDA, "
        "0.1 on the CPU (paper scale takes minutes per step on a shared 2-core CPU)",
    )
    p.add_argument("--batch-size", type=int, default=2048)
    a = p.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.scale is None:
        a.scale = 1.0 if str(a.device).startswith("cuda") else 0.1
    g = tmall_like_graph(a.scale)
    graph, edge_index, bu, bi, keys = _build(g)
    n_buy = len(bu)
    gen = torch.Generator().manual_seed(0)

    def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, n_buy, (a.batch_size,), generator=gen)
        return bu[idx], bi[idx]

    sizes = dict(n_users=g["U"], n_items=g["I"], n_entities=g["E"], n_relations=g["R"], n_behaviours=len(SHARES))
    kamcl = KAMCLModule(**sizes)
    kamcl.attach(graph, keys, {})

    def kamcl_step(m: KAMCLModule, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        u, i = batch
        return sum(m.objective_terms(u, i, m._sample_negatives(u)).values())

    ours_lgcn = KAMCLModule(model_name="lightgcn", **sizes)
    ours_lgcn.attach(graph, keys, {})
    pyg = LightGCN(g["U"] + g["I"], 32, 3)
    ei_holder = {"ei": edge_index}

    def pyg_step(m: LightGCN, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        u, i = batch
        ei = ei_holder["ei"] = ei_holder["ei"].to(u.device)
        j = torch.randint(0, g["I"], u.shape, device=u.device)
        emb = m.get_embedding(ei)  # gcn_norm inside every call, as in PyG's example
        pos = (emb[u] * emb[i + g["U"]]).sum(-1)
        neg = (emb[u] * emb[j + g["U"]]).sum(-1)
        return m.recommendation_loss(pos, neg, node_id=torch.cat([u, i + g["U"], j + g["U"]]), lambda_reg=1e-4)

    opt = lambda params: torch.optim.Adam(params, lr=1e-3)  # noqa: E731
    kw = dict(steps=a.steps, warmup=a.warmup, device=a.device)
    t_kamcl = BenchTarget("kamcl", kamcl, make_batch, step=kamcl_step, optimizer=opt)
    rows = []
    for ref in (
        BenchTarget("torch_geometric.nn.LightGCN (merged, edge_index)", pyg, make_batch, step=pyg_step, optimizer=opt),
        BenchTarget(
            "kamcl.MergedLightGCN (merged, pre-normalised)", ours_lgcn, make_batch, step=kamcl_step, optimizer=opt
        ),
    ):
        res = compare([t_kamcl], ref, **kw)[0]
        steps_per_epoch = int(np.ceil(n_buy / a.batch_size))
        for key in ("candidate", "reference"):
            res[key]["epoch_s"] = steps_per_epoch / res[key]["steps_per_s"]
        rows.append(res)
    meta = {
        "scale": a.scale,
        "users": g["U"],
        "items": g["I"],
        "interactions": {b: int(m.nnz) for b, m in g["mats"].items()},
        "batch_size": a.batch_size,
        "steps_per_epoch": int(np.ceil(n_buy / a.batch_size)),
    }
    path = write_bench("kamcl", rows, a.out, **meta)
    table = [
        {
            "model": r[k]["name"],
            "device": r[k]["device"],
            "step_s": 1 / r[k]["steps_per_s"],
            "epoch_s": r[k]["epoch_s"],
            "peak_mem_mb": r[k]["peak_mem_mb"],
        }
        for r in rows
        for k in ("candidate", "reference")
    ]
    print(f"Tmall-like graph x{a.scale}: {meta}")
    print(markdown_table(table))
    print(f"written to {path}")
    return rows


if __name__ == "__main__":
    run_script(main)
