"""LightningModule: KAMCL objective (paper Sec. 3, as reconstructed in the README) and the
ranking evaluation (full ranking and 1 + N sampled).

L = L_BPR(target) + l1 * L_CL1 (cross-behaviour user contrast) + l2 * L_CL2 (knowledge vs interaction view)
    + l_reg * ||Theta_0||^2 (+ optional KGIN intent-independence term).
Validation (model selection) uses the validation item only; test uses the test item. Full ranking with training
positives masked is the primary protocol; 1 + N sampled negatives is logged under separate ``sampled<N>_`` keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanMetric

from kamcl.graph import Graph
from kamcl.losses import bpr_loss, info_nce, l2_reg
from kamcl.metrics import full_ranking_ranks, metrics_from_ranks, sampled_ranks
from kamcl.model import MODELS, KAMCLConfig, Reps
from paperkit.config import config_from
from paperkit.runs import run_dir

__all__ = ["KAMCLModule"]

log = logging.getLogger(__name__)


def _csr_tensors(m: sp.csr_matrix) -> tuple[Tensor, Tensor]:
    return torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64))


def _batch_mask(crow: Tensor, col: Tensor, users: Tensor) -> tuple[Tensor, Tensor]:
    """(row-in-batch, item) pairs of the CSR rows ``users``."""
    start, end = crow[users], crow[users + 1]
    lengths = end - start
    rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
    offsets = torch.arange(int(lengths.sum()), device=users.device) - torch.repeat_interleave(
        torch.cumsum(lengths, 0) - lengths, lengths
    )
    return rows, col[torch.repeat_interleave(start, lengths) + offsets]


def _adam(params: Iterable) -> torch.optim.Optimizer:
    """The default optimiser: Adam, lr 1e-3."""
    return torch.optim.Adam(params, lr=1e-3)


class KAMCLModule(pl.LightningModule):
    """KAMCL and the baselines (``model_name``: kamcl | pop | bprmf | lightgcn) behind one training/eval loop.

    Sizes (``n_users`` ... ``n_behaviours``) are linked from the datamodule. Loss weights and temperatures, and all
    reconstruction switches of :class:`~kamcl.model.KAMCLConfig`, are constructor arguments (see default.yaml).
    """

    def __init__(
        self,
        model_name: Literal["kamcl", "pop", "bprmf", "lightgcn"] = "kamcl",
        n_users: int = 1,
        n_items: int = 1,
        n_entities: int = 1,
        n_relations: int = 1,
        n_behaviours: int = 1,
        dim: int = 32,
        n_layers: int = 3,
        kg_layers: int = 1,
        kg_aggregator: Literal["mean", "attention"] = "mean",
        kg_inverse: bool = True,
        use_kg: bool = True,
        n_intents: int = 0,
        intent_bias: bool = True,
        behaviour_fusion: Literal["attention", "mean", "target"] = "attention",
        kg_item_input: bool = True,
        kg_item_output: bool = True,
        lightgcn_graph: Literal["merged", "target"] = "merged",
        cl_behaviour_weight: float = 0.05,
        cl_behaviour_tau: float = 0.2,
        cl_kg_weight: float = 0.05,
        cl_kg_tau: float = 0.2,
        cl_kg_item_view: Literal["target", "mean"] = "target",
        reg_weight: float = 1e-4,
        intent_independence_weight: float = 0.0,
        cl_warmup_steps: int = 0,
        ks: list[int] | None = None,
        top_k: int = 10,
        optimizer: OptimizerCallable = _adam,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.cfg = config_from(KAMCLConfig, self.hparams)
        self.net = MODELS[model_name](self.cfg)
        self.optimizer_fn = optimizer
        self.ks = list(ks or [10, 20, 40])
        self.graph: Graph | None = None
        self.positive_keys: Tensor | None = None
        self.masks: dict[str, tuple[Tensor, Tensor]] = {}
        self.n_sampled = 99
        self._reps: Reps | None = None
        self.predict_k = top_k
        self.manual_step: int | None = None  # the training step when driven without a Trainer (tests, diagnostics)
        self.user_ids: list[str] | None = None  # the dataset's own ids (movielens_kg), written by predict
        self.item_ids: list[str] | None = None
        names = [f"{m}@{k}" for k in self.ks for m in ("hr", "recall", "ndcg")]
        self.eval_metrics = nn.ModuleDict(
            {
                f"{stage}_{proto}{name.replace('@', '_at_')}": MeanMetric()
                for stage in ("val", "test")
                for proto in ("", "sampled_")
                for name in names
            }
        )

    # ---- data attachment -------------------------------------------------------------------------------------------
    def attach(self, graph: Graph, positive_keys: Tensor, masks: dict[str, sp.csr_matrix], n_sampled: int = 99) -> None:
        """Give the module the graph tensors (done from the datamodule in ``setup``; by hand in bench/tests)."""
        self.graph, self.positive_keys = graph, positive_keys
        self.masks = {stage: _csr_tensors(m) for stage, m in masks.items()}
        self.n_sampled = n_sampled

    def attach_data(self, datamodule: pl.LightningDataModule) -> None:
        """Take the graph, the training positives and the ranking masks from a :class:`KAMCLDataModule`."""
        masks = {"val": datamodule.mask_for("val"), "test": datamodule.mask_for("test")}
        masks["predict"] = datamodule.mask_for("predict")
        self.attach(datamodule.graph, datamodule.positive_keys, masks, datamodule.n_sampled_negatives)
        self.predict_k = getattr(datamodule, "top_k", None) or self.hparams.top_k
        self.user_ids, self.item_ids = getattr(datamodule, "user_ids", None), getattr(datamodule, "item_ids", None)

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is not None and self.graph is None:
            self.attach_data(dm)

    def _on_device(self) -> Graph:
        if self.graph is None:
            raise RuntimeError("KAMCLModule has no graph: use it with KAMCLDataModule or call attach() first")
        if self.graph.device != self.device:
            self.graph = self.graph.to(self.device)
            self.positive_keys = self.positive_keys.to(self.device)
            self.masks = {k: (crow.to(self.device), col.to(self.device)) for k, (crow, col) in self.masks.items()}
        return self.graph

    def forward(self) -> Reps:
        return self.net(self._on_device())

    @staticmethod
    def score(reps: Reps, users: Tensor, items: Tensor) -> Tensor:
        """Dot-product score y_ui = z_u . z_i (+ item bias); users (B,), items (B,) or (B, C)."""
        zu = reps.users[users]
        if items.dim() == 1:
            s = (zu * reps.items[items]).sum(-1)
        else:
            s = torch.einsum("bd,bcd->bc", zu, reps.items[items])
        return s if reps.item_bias is None else s + reps.item_bias[items]

    # ---- training --------------------------------------------------------------------------------------------------
    def _sample_negatives(self, users: Tensor) -> Tensor:
        """One uniform negative per pair, rejecting training target positives (resampled, at most 100 rounds)."""
        n_items = self.cfg.n_items
        neg = torch.randint(0, n_items, users.shape, device=users.device)
        for _ in range(100):
            bad = torch.isin(users * n_items + neg, self.positive_keys)
            if not bad.any():
                break
            neg[bad] = torch.randint(0, n_items, (int(bad.sum()),), device=users.device)
        return neg

    def loss_terms(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """The objective on a batch of BPR pairs (negatives drawn here): every weighted term and their sum ``loss``."""
        self._on_device()
        users, pos = batch
        neg = self._sample_negatives(users)
        terms = self.objective_terms(users, pos, neg)
        return {**terms, "loss": sum(terms.values())}

    def predict_outputs(self, batch: tuple[Tensor, ...]) -> Tensor:
        """Scores of every item for the batch's users (B, I)."""
        users = batch[0]
        reps = self()
        scores = reps.users[users] @ reps.items.T
        return scores if reps.item_bias is None else scores + reps.item_bias

    def cl_scale(self) -> float:
        """Factor on both contrastive weights: ramps linearly from 0 to 1 over the first ``cl_warmup_steps`` steps.

        Why: the InfoNCE terms use cosine similarity, so their gradient grows as the embeddings shrink, while BPR's
        gradient shrinks with them. At the small initial norms, under Adam's per-coordinate normalisation, CL dominates
        every update and BPR barely leaves its starting point (loss ~ln 2); on MovieLens-100K that took longer than the
        whole epoch budget (README, "Real data")."""
        warm = self.hparams.cl_warmup_steps
        if warm <= 0:
            return 1.0
        step = self.manual_step if self.manual_step is not None else (self.global_step if self._trainer else 0)
        return min(1.0, step / warm)

    def objective_terms(self, users: Tensor, pos: Tensor, neg: Tensor) -> dict[str, Tensor]:
        """Every weighted term of the objective for one BPR batch (the sum is the loss)."""
        h = self.hparams
        reps = self()
        cl = self.cl_scale()
        terms = {"bpr": bpr_loss(self.score(reps, users, pos), self.score(reps, users, neg))}
        if reps.base:
            terms["reg"] = h.reg_weight * l2_reg(
                reps.base["user"][users], reps.base["item"][pos], reps.base["item"][neg]
            )
        if reps.user_beh is not None and h.cl_behaviour_weight * cl > 0 and reps.user_beh.shape[0] > 1:
            uu = users.unique()
            target = reps.user_beh[-1, uu]  # (n, d) z_u^target
            n_aux = reps.user_beh.shape[0] - 1
            views = [info_nce(target, reps.user_beh[b, uu], h.cl_behaviour_tau) for b in range(n_aux)]
            terms["cl_behaviour"] = h.cl_behaviour_weight * cl * torch.stack(views).mean()  # CL1
        if reps.item_kg is not None and h.cl_kg_weight * cl > 0:
            ii = pos.unique()
            cf = reps.item_beh[-1] if h.cl_kg_item_view == "target" else reps.item_beh.mean(0)
            terms["cl_kg"] = h.cl_kg_weight * cl * info_nce(reps.item_kg[ii], cf[ii], h.cl_kg_tau)  # CL2
        if reps.intents is not None and h.intent_independence_weight > 0:
            p = F.normalize(reps.intents, dim=-1)
            off = p @ p.T - torch.eye(p.shape[0], device=p.device)
            terms["intent_indep"] = h.intent_independence_weight * off.pow(2).sum() / max(p.shape[0] - 1, 1)
        if not any(t.requires_grad for t in terms.values()):  # popularity: nothing to learn
            terms["bpr"] = terms["bpr"] + 0.0 * sum(p.sum() for p in self.parameters())
        return terms

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        terms = self.loss_terms(batch)
        loss = terms.pop("loss")
        bs = len(batch[0])
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        for k, v in terms.items():
            self.log(f"train/{k}", v, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        return loss

    # ---- evaluation ------------------------------------------------------------------------------------------------
    def _eval_start(self) -> None:
        with torch.no_grad():
            self._reps = self()

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def _eval_step(self, batch: tuple[Tensor, Tensor, Tensor], stage: str) -> None:
        users, pos, negs = batch
        reps = self._reps
        scores = reps.users[users] @ reps.items.T  # (n, I)
        if reps.item_bias is not None:
            scores = scores + reps.item_bias
        rows, cols = _batch_mask(*self.masks[stage], users)
        ranks = {
            "": full_ranking_ranks(scores, pos, rows, cols),
            "sampled_": sampled_ranks(scores.gather(1, pos[:, None]).squeeze(1), scores.gather(1, negs)),
        }
        for proto, r in ranks.items():
            for name, values in metrics_from_ranks(r, self.ks).items():
                key = f"{stage}_{proto}{name.replace('@', '_at_')}"
                metric = self.eval_metrics[key]
                metric.update(values.float())
                label = f"{stage}/{name}" if not proto else f"{stage}/sampled{self.n_sampled}_{name}"
                self.log(label, metric, on_step=False, on_epoch=True, batch_size=len(users))

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Write the learned intent->relation mix and the per-behaviour intent prior to ``intents.json``."""
        net = self.net
        if not (hasattr(net, "intent_logits") and self._trainer is not None):
            return
        folder = run_dir(self.trainer)  # trainer.log_dir is a collective under DDP: every rank must call it
        if not self.trainer.is_global_zero:
            return
        with torch.no_grad():
            mix = torch.softmax(net.intent_logits, -1)  # (K, R) p_k = sum_r mix_kr e_r
            prior = torch.softmax(net.intent_prior, -1).tolist() if net.cfg.intent_bias else []  # (B, K)
        report = {"intent_relation_mix": mix.tolist(), "behaviour_intent_prior": prior}
        (folder / "intents.json").write_text(json.dumps(report, indent=2))

    # ---- predict: top-K recommendations ----------------------------------------------------------------------------
    def on_predict_epoch_start(self) -> None:
        self._eval_start()

    def predict_step(self, batch: tuple[Tensor], batch_idx: int) -> list[dict[str, object]]:
        """The ``top_k`` items per user, excluding every item the user interacted with in a training behaviour."""
        (users,) = batch
        reps = self._reps
        scores = reps.users[users] @ reps.items.T  # (n, I)
        if reps.item_bias is not None:
            scores = scores + reps.item_bias
        rows, cols = _batch_mask(*self.masks["predict"], users)
        scores[rows, cols] = float("-inf")
        k = min(self.predict_k, scores.shape[1])
        top = scores.topk(k, dim=1)
        uid = self.user_ids.__getitem__ if self.user_ids else int
        iid = self.item_ids.__getitem__ if self.item_ids else int
        return [
            {"user": uid(u), "rank": r + 1, "item": iid(i), "score": f"{float(v):.6f}"}
            for u, items, vals in zip(users.tolist(), top.indices, top.values)
            for r, (i, v) in enumerate(zip(items.tolist(), vals.tolist()))
            if v != float("-inf")
        ]

    def configure_optimizers(self) -> Any:
        return self.optimizer_fn(self.parameters())
