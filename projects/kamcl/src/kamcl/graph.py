"""Graph tensors shared by the models: normalised bipartite adjacencies (LightGCN, §2 (c)) and the KG (§2 (a))."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_torch_coo_tensor

__all__ = ["Graph", "bipartite_adj"]


def bipartite_adj(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the (U+I) x (U+I) user-item graph as a sparse CSR tensor."""
    n = n_users + n_items
    src = torch.cat([users, items + n_users])
    dst = torch.cat([items + n_users, users])
    edge_index = torch.stack([src, dst])
    edge_index, weight = gcn_norm(edge_index, None, n, add_self_loops=False)
    return to_torch_coo_tensor(edge_index, weight, (n, n)).coalesce().to_sparse_csr()


@dataclass
class Graph:
    """Everything a model needs from the data, as tensors. Not registered as buffers (sparse buffers break DDP)."""

    adj: list[torch.Tensor]  # per behaviour, (U+I, U+I) sparse
    adj_merged: torch.Tensor  # all behaviours merged (binary union), (U+I, U+I) sparse
    kg: torch.Tensor  # (T, 3) long: head, relation, tail
    target_pop: torch.Tensor  # (I,) float, training count of the target behaviour per item

    def to(self, device: torch.device | str) -> Graph:
        moved = {}
        for f in fields(self):
            v = getattr(self, f.name)
            moved[f.name] = [t.to(device) for t in v] if isinstance(v, list) else v.to(device)
        return Graph(**moved)

    @property
    def device(self) -> torch.device:
        return self.kg.device
