"""KAMCL model (arXiv:2404.11993, Sec. 3 "Method"; reconstructed, see the README) and its
baselines.

* :class:`RelationKGAggregator`: the KG partitioned by relation, one aggregation per relation subgraph, and the
  relation views of an item fused by attention (§2 (a)).
* :class:`KAMCL`: intents from relation embeddings (§2 (b)), per-behaviour LightGCN propagation with intent-aware user
  representations fused across behaviours (§2 (c)), dot-product scores.
* :class:`Popularity`, :class:`BPRMF`, :class:`MergedLightGCN` (``torch_geometric.nn.LightGCN``): baselines.

Every model maps a :class:`~kamcl.graph.Graph` to a :class:`Reps` (final user/item vectors plus the views the
losses need); scores are ``users @ items.T (+ item_bias)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import LGConv, LightGCN
from torch_geometric.utils import scatter, softmax

from kamcl.graph import Graph

# LGConv hands our pre-normalised CSR adjacency to torch.sparse
warnings.filterwarnings("ignore", message=".*Converting sparse tensor to CSR.*")
warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
warnings.filterwarnings("ignore", message=".*Sparse invariant checks are implicitly disabled.*")

__all__ = ["BPRMF", "KAMCL", "MODELS", "KAMCLConfig", "MergedLightGCN", "Popularity", "RelationKGAggregator", "Reps"]


@dataclass
class KAMCLConfig:
    """Sizes come from the data; every other field is a reconstruction choice [I] (see the README)."""

    n_users: int
    n_items: int
    n_entities: int
    n_relations: int
    n_behaviours: int
    dim: int = 32
    n_layers: int = 3  # LightGCN layers per behaviour graph
    kg_layers: int = 1  # relational aggregation layers per relation subgraph
    kg_aggregator: str = "mean"  # "mean" (KGIN: mean_t e_r * e_t) | "attention" (KGCL/KMCLR style)
    kg_inverse: bool = True  # also aggregate attribute entities from their items (matters for kg_layers > 1)
    use_kg: bool = True  # False = the "without KG" ablation (no KG views, no intents)
    n_intents: int = 0  # 0 -> one intent per relation (K = R)
    intent_bias: bool = True  # learned per-behaviour intent prior c_bk added to the intent attention logits
    behaviour_fusion: str = "attention"  # "attention" | "mean" | "target" (only the target behaviour's user view)
    kg_item_input: bool = True  # add e_i^KG to the item's layer-0 embedding in every behaviour graph
    kg_item_output: bool = True  # z_i = mean_b e_i^b + e_i^KG
    lightgcn_graph: str = "merged"  # LightGCN baseline: propagate on all behaviours merged, or the target graph only


@dataclass
class Reps:
    users: Tensor  # (U, d) final user vectors
    items: Tensor  # (I, d) final item vectors
    item_bias: Tensor | None = None  # (I,) added to every score (popularity)
    base: dict[str, Tensor] = field(default_factory=dict)  # layer-0 tables for the L2 term
    user_beh: Tensor | None = None  # (B, U, d) intent-aware per-behaviour user views z_u^b
    item_beh: Tensor | None = None  # (B, I, d) per-behaviour item views e_i^b
    item_kg: Tensor | None = None  # (I, d) knowledge view e_i^KG
    intents: Tensor | None = None  # (K, d)


class RelationKGAggregator(nn.Module):
    """Per-relation aggregation over the KG and attention fusion of the relation views (§2 (a)).

    mean:      e_h^{r,(l+1)} = mean_{t in N_r(h)} e_r * e_t^{r,(l)}                      (KGIN)
    attention: e_h^{r,(l+1)} = ReLU(W(sum_t a_ht e_t^{r,(l)} + e_h^{r,(l)})),
               a_ht = softmax_t LeakyReLU(w^T [e_h || e_r || e_t])                       (KGCL / KMCLR)
    fusion:    e_i^KG = sum_r b_ir e_i^r,  b_ir = softmax_r q^T tanh(W e_i^r)  over relations where i has edges.
    """

    single_layer_shortcut = True  # kg_layers == 1: compute only the item rows (tests compare it with the general path)

    def __init__(self, cfg: KAMCLConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        if cfg.kg_aggregator not in ("mean", "attention"):
            raise ValueError(f"kg_aggregator must be 'mean' or 'attention', got {cfg.kg_aggregator!r}")
        if cfg.kg_aggregator == "attention":
            self.att = nn.Linear(3 * d, 1, bias=False)
            self.lin = nn.Linear(d, d)
        self.fuse = nn.Linear(d, d)
        self.query = nn.Parameter(torch.randn(d) * d**-0.5)

    def forward(self, ent: Tensor, rel: Tensor, kg: Tensor) -> Tensor:
        """ent (E, d), rel (R, d), kg (T, 3) -> item knowledge view (I, d)."""
        E, R, I = ent.shape[0], rel.shape[0], self.cfg.n_items
        h, r, t = kg.unbind(1)
        if self.cfg.kg_inverse:
            h, t, r = torch.cat([h, t]), torch.cat([t, h]), torch.cat([r, r])
        if self.cfg.kg_layers == 1 and self.single_layer_shortcut:
            # one layer only needs the item rows of each relation stream, and layer 0 is the shared entity table:
            # the same result as the general path below, without materialising R copies of every entity
            keep = h < I
            h, r, t = h[keep], r[keep], t[keep]
            seg = r * I + h  # (T',) one segment per (relation, item)
            if self.cfg.kg_aggregator == "mean":
                view = scatter(rel[r] * ent[t], seg, dim=0, dim_size=R * I, reduce="mean")  # (R*I, d)
            else:
                logit = F.leaky_relu(self.att(torch.cat([ent[h], rel[r], ent[t]], -1)).squeeze(-1), 0.2)
                a = softmax(logit, seg, num_nodes=R * I)  # (T',)
                agg = scatter(a.unsqueeze(-1) * ent[t], seg, dim=0, dim_size=R * I, reduce="sum")
                view = F.relu(self.lin(agg + ent[:I].repeat(R, 1)))
            has = torch.zeros(R * I, dtype=torch.bool, device=ent.device)
            has[seg] = True
            return self._fuse(view.view(R, I, -1), has.view(R, I))
        seg = r * E + h  # (T,) one segment per (relation, head): relation-partitioned neighbourhoods
        src = r * E + t
        x = ent.repeat(R, 1)  # (R*E, d): layer 0 of every relation stream is the shared entity table
        layers = []
        for _ in range(self.cfg.kg_layers):
            if self.cfg.kg_aggregator == "mean":
                x = scatter(rel[r] * x[src], seg, dim=0, dim_size=R * E, reduce="mean")  # (R*E, d)
            else:
                logit = F.leaky_relu(self.att(torch.cat([x[seg], rel[r], x[src]], -1)).squeeze(-1), 0.2)
                a = softmax(logit, seg, num_nodes=R * E)  # (T,)
                agg = scatter(a.unsqueeze(-1) * x[src], seg, dim=0, dim_size=R * E, reduce="sum")
                x = F.relu(self.lin(agg + x))
            layers.append(x)
        views = torch.stack(layers).mean(0).view(R, E, -1)[:, :I]  # (R, I, d)
        has = torch.zeros(R * E, dtype=torch.bool, device=ent.device)
        has[seg] = True
        return self._fuse(views, has.view(R, E)[:, :I])

    def _fuse(self, views: Tensor, has: Tensor) -> Tensor:
        """views (R, I, d), has (R, I) -> e_i^KG (I, d): attention over the relations where the item has edges."""
        logits = (torch.tanh(self.fuse(views)) @ self.query).masked_fill(~has, float("-inf"))  # (R, I)
        beta = torch.softmax(logits, 0).nan_to_num(0.0)  # items without any KG edge get a zero view
        return (beta.unsqueeze(-1) * views).sum(0)  # (I, d)


def _propagate(conv: LGConv, adj: Tensor, x: Tensor, n_layers: int) -> Tensor:
    """LightGCN: mean of layers 0..L of x_{l+1} = A x_l with a pre-normalised adjacency."""
    out = x
    for _ in range(n_layers):
        x = conv(x, adj)
        out = out + x
    return out / (n_layers + 1)


class KAMCL(nn.Module):
    """Knowledge-aware multi-intent multi-behaviour recommender (§2 (a)-(c))."""

    def __init__(self, cfg: KAMCLConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, B = cfg.dim, cfg.n_behaviours
        if cfg.behaviour_fusion not in ("attention", "mean", "target"):
            raise ValueError(f"behaviour_fusion must be attention|mean|target, got {cfg.behaviour_fusion!r}")
        self.user = nn.Embedding(cfg.n_users, d)
        self.entity = nn.Embedding(max(cfg.n_entities, cfg.n_items), d)  # items are entities 0..I-1
        for emb in (self.user, self.entity):
            nn.init.normal_(emb.weight, std=0.1)
        self.conv = LGConv(normalize=False)
        if cfg.use_kg:
            self.relation = nn.Embedding(cfg.n_relations, d)
            nn.init.normal_(self.relation.weight, std=0.1)
            self.kg = RelationKGAggregator(cfg)
            K = cfg.n_intents or cfg.n_relations
            self.intent_logits = nn.Parameter(torch.zeros(K, cfg.n_relations).normal_(std=0.1))  # w_kr
            if cfg.intent_bias:
                self.intent_prior = nn.Parameter(torch.zeros(B, K))  # c_bk
        if cfg.behaviour_fusion == "attention":
            self.beh_proj = nn.Linear(d, d)
            self.beh_query = nn.Parameter(torch.randn(d) * d**-0.5)
            self.beh_bias = nn.Parameter(torch.zeros(B))

    def intents(self) -> Tensor:
        """p_k = sum_r softmax_r(w_kr) e_r  -> (K, d)   (§2 (b), KGIN style)."""
        return torch.softmax(self.intent_logits, -1) @ self.relation.weight

    def forward(self, graph: Graph) -> Reps:
        cfg = self.cfg
        U, I = cfg.n_users, cfg.n_items
        items0 = self.entity.weight[:I]  # (I, d)
        item_kg = intents = None
        if cfg.use_kg:
            item_kg = self.kg(self.entity.weight, self.relation.weight, graph.kg)  # (I, d)
            intents = self.intents()  # (K, d)
        x_items = items0 + item_kg if (item_kg is not None and cfg.kg_item_input) else items0
        x0 = torch.cat([self.user.weight, x_items])  # (U+I, d)
        user_beh, item_beh = [], []
        for b, adj in enumerate(graph.adj):
            out = _propagate(self.conv, adj, x0, cfg.n_layers)
            eu, ei = out[:U], out[U:]  # (U, d), (I, d)
            if intents is not None:
                logits = eu @ intents.T  # (U, K)   a_ubk = softmax_k(e_u^b . p_k + c_bk)
                if cfg.intent_bias:
                    logits = logits + self.intent_prior[b]
                eu = eu + torch.softmax(logits, -1) @ intents  # z_u^b = e_u^b + sum_k a_ubk p_k
            user_beh.append(eu)
            item_beh.append(ei)
        zub, eib = torch.stack(user_beh), torch.stack(item_beh)  # (B, U, d), (B, I, d)
        if cfg.behaviour_fusion == "attention":
            g = torch.tanh(self.beh_proj(zub)) @ self.beh_query + self.beh_bias[:, None]  # (B, U)
            users = (torch.softmax(g, 0).unsqueeze(-1) * zub).sum(0)  # z_u = sum_b gamma_ub z_u^b
        elif cfg.behaviour_fusion == "mean":
            users = zub.mean(0)
        else:
            users = zub[-1]
        items = eib.mean(0)
        if item_kg is not None and cfg.kg_item_output:
            items = items + item_kg  # z_i = mean_b e_i^b + e_i^KG
        return Reps(
            users=users,
            items=items,
            base={"user": self.user.weight, "item": items0},
            user_beh=zub,
            item_beh=eib,
            item_kg=item_kg,
            intents=intents,
        )


class Popularity(nn.Module):
    """Score = training count of the target behaviour. The dummy parameter keeps the optimizer happy."""

    def __init__(self, cfg: KAMCLConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, graph: Graph) -> Reps:
        z = self.dummy.expand(self.cfg.n_users, 1)
        return Reps(users=z, items=torch.zeros_like(graph.target_pop)[:, None], item_bias=graph.target_pop)


class BPRMF(nn.Module):
    """Matrix factorisation trained with BPR on the target behaviour only."""

    def __init__(self, cfg: KAMCLConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.user = nn.Embedding(cfg.n_users, cfg.dim)
        self.item = nn.Embedding(cfg.n_items, cfg.dim)
        for emb in (self.user, self.item):
            nn.init.normal_(emb.weight, std=0.1)

    def forward(self, graph: Graph) -> Reps:
        return Reps(self.user.weight, self.item.weight, base={"user": self.user.weight, "item": self.item.weight})


class MergedLightGCN(nn.Module):
    """``torch_geometric.nn.LightGCN`` on the union of all behaviour graphs (pre-normalised adjacency), or on the
    target behaviour's graph only (``lightgcn_graph: target``). Which pairs are BPR positives is a data option
    (``data.train_positives``: the target behaviour, or every behaviour merged)."""

    def __init__(self, cfg: KAMCLConfig) -> None:
        super().__init__()
        if cfg.lightgcn_graph not in ("merged", "target"):
            raise ValueError(f"lightgcn_graph must be 'merged' or 'target', got {cfg.lightgcn_graph!r}")
        self.cfg = cfg
        self.net = LightGCN(cfg.n_users + cfg.n_items, cfg.dim, cfg.n_layers, normalize=False)
        nn.init.normal_(self.net.embedding.weight, std=0.1)

    def forward(self, graph: Graph) -> Reps:
        adj = graph.adj_merged if self.cfg.lightgcn_graph == "merged" else graph.adj[-1]
        out = self.net.get_embedding(adj)  # (U+I, d)
        U = self.cfg.n_users
        w = self.net.embedding.weight
        return Reps(out[:U], out[U:], base={"user": w[:U], "item": w[U:]})


MODELS: dict[str, type[nn.Module]] = {
    "kamcl": KAMCL,
    "pop": Popularity,
    "bprmf": BPRMF,
    "lightgcn": MergedLightGCN,
}
