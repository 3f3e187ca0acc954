"""LightningModule: SASRec-CCQL and its baselines as configurations of one objective (paper Sec. 3-4).

A coin flip picks which of the two Q networks is trained ("main") and which gives the target (SQN's double Q):
per sample by default (each network trains on a random half of the batch), or per step as in SQN (``coin=step``).
On the main network's state vector h = f(s):

    L = w_ce(s, a) * CE(logits(h), a)                      (w = 1 before ``switch_interval``, then sg(Q(s,a)) or the
                                                            advantage Q(s,a) - mean Q(s, {a} u negatives): SAC / SA2C)
      + td_weight * 1/2 (y - Q(s, a))^2,  y = r + gamma Q_tgt(s', argmax Q_main(s', .))     (double-Q TD)
      [+ the same TD loss on sampled negatives with reward ``neg_reward`` (SA2C / SNQN), with ``neg_td``]
      + cql_weight * (tau * logsumexp_{negatives, a, greedy} Q(s, .)/tau - Q(s, a))        (conservative term)
      + cl_weight * NT-Xent(h, f(aug(s)))                                                 (contrastive term)

r = ``r_click`` / ``r_buy``. Evaluation ranks all items by the first network's CE logits (full ranking) and reports
HR/NDCG@{5,10,20} for click and purchase targets separately, on all sequences and on the long ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable
from torchmetrics import Metric

from ccql.losses import augment, conservative_term, nt_xent, sample_negatives, td_target, weighted_ce
from ccql.model import QNetwork, SASRecConfig
from paperkit.config import config_from
from paperkit.ranking import hr_ndcg, target_ranks

__all__ = ["KS", "CCQLModule", "RankingMetric"]

log = logging.getLogger(__name__)

KS = (5, 10, 20)
GROUPS = ("click", "purchase", "long_click", "long_purchase")
Batch = dict[str, torch.Tensor]


class RankingMetric(Metric):
    """Sums of HR@k / NDCG@k and target counts per group (click / purchase x all / long sequences); DDP-reduced."""

    full_state_update = False

    def __init__(self, ks: tuple[int, ...] = KS) -> None:
        super().__init__()
        self.ks = ks
        self.add_state("sums", default=torch.zeros(len(GROUPS), 1 + 2 * len(ks), dtype=torch.float64),
                       dist_reduce_fx="sum")  # fmt: skip

    def update(self, scores: torch.Tensor, action: torch.Tensor, is_buy: torch.Tensor, long: torch.Tensor) -> None:
        m = hr_ndcg(target_ranks(scores, action), self.ks)
        cols = torch.stack([torch.ones_like(m["hr@5"])] + [m[f"{w}@{k}"] for w in ("hr", "ndcg") for k in self.ks], 1)
        buy, lg = is_buy.bool(), long.bool()
        for g, mask in enumerate((~buy, buy, ~buy & lg, buy & lg)):
            self.sums[g] += cols[mask].sum(0)

    def compute(self) -> dict[str, torch.Tensor]:
        out = {}
        for g, name in enumerate(GROUPS):
            n = self.sums[g, 0].clamp(min=1)
            for j, (w, k) in enumerate((w, k) for w in ("hr", "ndcg") for k in self.ks):
                out[f"{name}_{w}@{k}"] = (self.sums[g, 1 + j] / n).float()
            out[f"{name}_n"] = self.sums[g, 0].float()
        return out


def _adam(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The default optimiser: Adam, lr 0.005 (the paper's RC15 setting)."""
    return torch.optim.Adam(params, lr=0.005)


class CCQLModule(LightningModule):
    derived_config_fields: ClassVar[dict[str, str]] = {
        "init_std": "fixed N(0, 0.01) initialisation of the paper's code"
    }

    def __init__(
        self,
        n_items: int = 400,
        state_len: int = 10,
        hidden: int = 64,
        n_blocks: int = 1,
        n_heads: int = 1,
        dropout: float = 0.1,
        # rewards and TD
        gamma: float = 0.5,
        r_click: float = 0.2,
        r_buy: float = 1.0,
        td_weight: float = 1.0,
        double_q: bool = True,
        coin: Literal["sample", "step"] = "sample",
        # negatives: the conservative term's sampled actions; SA2C's negative TD
        n_negatives: int = 10,
        neg_reward: float = -1.0,
        neg_td: bool = False,
        # phase 2: Q-weighted CE after the warm-up
        weighting: Literal["none", "q", "advantage"] = "q",
        switch_interval: int = 15000,
        lr_2: float | None = None,
        batch_mean_weighting: bool = False,
        # conservative term
        cql_weight: float = 0.01,
        cql_temp: float = 0.5,
        cql_code_faithful: bool = False,
        # contrastive term
        cl_weight: float = 1.0,
        cl_temp: float = 0.07,
        augmentation: Literal["permutation", "crop", "mask"] = "permutation",
        aug_code_faithful: bool = False,
        # optimisation
        grad_clamp: float | None = 1.0,
        optimizer: OptimizerCallable = _adam,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.cfg = config_from(SASRecConfig, self.hparams)
        self.qf1 = QNetwork(self.cfg)
        self.qf2 = QNetwork(self.cfg) if double_q else None
        self.optimizer = optimizer
        self.metrics = torch.nn.ModuleDict({s: RankingMetric() for s in ("val", "test")})
        self._extra: dict[str, float] = {}

    # --- objective -------------------------------------------------------------------------------------------------
    def in_phase_2(self) -> bool:
        return self.hparams.weighting != "none" and self.global_step >= self.hparams.switch_interval

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The objective on a training batch: ``ce``, ``td``, ``cql``, ``cl`` (those switched on) and ``loss``.

        Double Q (SQN's coin flip): with ``coin="step"`` one coin per step picks the trained network and the other
        is frozen for the step (exactly SQN; under DDP it needs ``strategy=ddp_find_unused_parameters_true``); with
        ``coin="sample"`` (default) the coin is flipped per sample: a random half of the batch trains each network
        against the other as target, the same expected data per network and step, and every parameter is used in
        every step (DDP-safe).
        """
        if self.qf2 is None:
            return self._terms(self.qf1, self.qf1, batch)
        if self.hparams.coin == "step":
            flip = bool(torch.randint(0, 2, (1,)).item())
            main, target = (self.qf2, self.qf1) if flip else (self.qf1, self.qf2)
            main.requires_grad_(True)
            target.requires_grad_(False)
            return self._terms(main, target, batch)
        b = batch["action"].shape[0]
        perm = torch.randperm(b, device=batch["action"].device)
        halves = [perm[: b - b // 2], perm[b - b // 2 :]]
        parts = []
        for (main, target), idx in zip(((self.qf1, self.qf2), (self.qf2, self.qf1)), halves):
            if len(idx):
                parts.append((len(idx) / b, self._terms(main, target, {k: v[idx] for k, v in batch.items()})))
        return {k: sum(w * t[k] for w, t in parts) for k in parts[0][1]}

    def _terms(self, main: QNetwork, target: QNetwork, batch: Batch) -> dict[str, torch.Tensor]:
        h_ = self.hparams
        s, ls, a = batch["state"], batch["len_state"], batch["action"]
        h, q, logits = main(s, ls)  # (B, d), (B, N), (B, N)
        q_a = q.gather(1, a[:, None]).squeeze(1)  # (B,)
        terms: dict[str, torch.Tensor] = {}
        need_neg = h_.cql_weight > 0 or h_.neg_td or h_.weighting == "advantage"
        neg = sample_negatives(a, self.cfg.n_items, h_.n_negatives) if need_neg else None  # (B, K)
        greedy_next = None
        if h_.td_weight > 0 or h_.cql_code_faithful:
            with torch.no_grad():
                _, q_next_main, _ = main(batch["next_state"], batch["len_next"])
                _, q_next_tgt, _ = target(batch["next_state"], batch["len_next"])
            greedy_next = q_next_main.argmax(1)
        if h_.td_weight > 0:
            reward = torch.where(batch["is_buy"].bool(), h_.r_buy, h_.r_click).to(q.dtype)
            y = td_target(reward, batch["done"], q_next_main, q_next_tgt, h_.gamma)  # (B,) double-Q TD target
            td = 0.5 * (y - q_a).pow(2).mean()
            if h_.neg_td and neg is not None:  # SA2C / SNQN: negatives with a negative reward, same next state
                y_neg = td_target(torch.full_like(reward, h_.neg_reward), batch["done"], q_next_main, q_next_tgt,
                                  h_.gamma)  # fmt: skip
                td = td + 0.5 * (y_neg[:, None] - q.gather(1, neg)).pow(2).mean()
            terms["td"] = h_.td_weight * td
        if h_.cql_weight > 0:
            cql = conservative_term(q, a, neg, h_.cql_temp, h_.cql_code_faithful, greedy_next)
            terms["cql"] = h_.cql_weight * cql.mean()
        weight = None
        if self.in_phase_2():
            if h_.weighting == "q":
                weight = q_a
            else:  # advantage over the data action and the negatives (SA2C)
                weight = q_a - torch.cat([q_a[:, None], q.gather(1, neg)], 1).mean(1)
        terms["ce"] = weighted_ce(logits, a, weight, h_.batch_mean_weighting)
        if h_.cl_weight > 0:
            s_aug, l_aug = augment(s, ls, self.cfg.pad, h_.augmentation, code_faithful=h_.aug_code_faithful)
            terms["cl"] = h_.cl_weight * nt_xent(h, main.encoder(s_aug, l_aug), h_.cl_temp)
        terms["loss"] = sum(terms.values())
        return terms

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        terms = self.loss_terms(batch)
        bs = batch["action"].shape[0]
        self.log("train/loss", terms["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=bs)
        for k, v in terms.items():
            if k != "loss":
                self.log(f"train/{k}", v, on_step=False, on_epoch=True, batch_size=bs)
        return terms["loss"]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # the switch to phase 2 starts a fresh Adam with lr_2 (the official code's second optimiser)
        if self.hparams.lr_2 is not None and self.global_step == self.hparams.switch_interval:
            opt = self.optimizers()
            opt = getattr(opt, "optimizer", opt)
            opt.state.clear()
            for group in opt.param_groups:
                group["lr"] = self.hparams.lr_2
            log.info("step %d: phase 2 (Q-weighted CE), lr %g", self.global_step, self.hparams.lr_2)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.hparams.grad_clamp:  # CCQL clamps every gradient element to [-c, c]
            for p in self.parameters():
                if p.grad is not None:
                    p.grad.clamp_(-self.hparams.grad_clamp, self.hparams.grad_clamp)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.parameters())

    # --- evaluation ------------------------------------------------------------------------------------------------
    def scores(self, state: torch.Tensor, len_state: torch.Tensor) -> torch.Tensor:
        """Ranking scores over all items: the first network's CE logits (B, N)."""
        return self.qf1(state, len_state)[2]

    def predict_outputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"scores": self.scores(batch["state"], batch["len_state"])}

    def _eval_step(self, batch: Batch, stage: str) -> None:
        scores = self.scores(batch["state"], batch["len_state"])
        self.metrics[stage].update(scores, batch["action"], batch["is_buy"], batch["long"])

    def _eval_end(self, stage: str) -> None:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        logged = {f"{stage}/{k}": v for k, v in values.items() if not k.endswith("_n")}
        self.log_dict(logged, sync_dist=False)  # already reduced over ranks by the metric
        if stage == "test":
            self._extra = {f"test/{k}": float(v) for k, v in values.items() if k.endswith("_n")}

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def extra_test_metrics(self) -> dict[str, float]:
        return dict(self._extra)

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, object]]:
        """Top-k next items per session: session_id, rank, item_id, score (CE logit)."""
        dm = self.trainer.datamodule
        k = min(dm.hparams.top_k, self.cfg.n_items)
        top = self.scores(batch["state"], batch["len_state"]).float().topk(k, dim=1)
        rows = []
        for r, vals, idx in zip(batch["row"].tolist(), top.values.cpu(), top.indices.cpu()):
            for rank, (v, i) in enumerate(zip(vals.tolist(), idx.tolist()), start=1):
                rows.append({"id": f"{dm.predict_names[r]}:{rank}", "session_id": dm.predict_names[r], "rank": rank,
                             "item_id": dm.item_ids[i], "score": f"{v:.6f}"})  # fmt: skip
        return rows
