"""LightningModule: the detector MLP trained with gamma * CVaR_alpha(BCE) + (1 - gamma) * L_AUC under SAM(AdamW)
(paper Sec. 3), evaluated with ROC-AUC (the paper's main metric), average precision, accuracy at 0.5, real and fake
recall, balanced accuracy and per-generator AUC, plus a ROC figure (paper Sec. 4).

Manual optimisation: one training step is the two-pass SAM update of :mod:`dmdetect.sam` (``use_sam=False``: one
AdamW step). The learning rate follows the official cyclic cosine schedule (``CosineAnnealingLR`` with
``T_max = lr_t_max`` = 8 epochs over 32, ``eta_min`` 1e-5), stepped once per epoch. Ablations: ERM (``gamma=1``,
``alpha=1``), CVaR only (``gamma=1``), AUC only (``gamma=0``), no SAM (``use_sam=false``), AUC on sigmoid scores.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable
from torchmetrics.functional.classification import binary_auroc, binary_average_precision, binary_roc

from dmdetect.losses import detector_loss
from dmdetect.model import Detector, DetectorConfig, Inputs
from dmdetect.sam import SAM, frozen_bn_stats
from paperkit.config import config_from
from paperkit.report import new_figure, save_figure, save_table
from paperkit.runs import run_dir

__all__ = ["DMDetectModule", "binary_metrics"]

log = logging.getLogger(__name__)

Batch = dict[str, Any]


def _adamw(params: Any) -> torch.optim.Optimizer:
    """The official base optimiser: torch AdamW, lr 1e-3, betas (0.9, 0.999), weight decay 0.01."""
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)


def binary_metrics(prob: torch.Tensor, label: torch.Tensor) -> dict[str, float]:
    """AUC, AP, accuracy at 0.5, real / fake recall and balanced accuracy (label 1 = generated)."""
    y = label.long()
    pred = (prob > 0.5).long()
    real, fake = y == 0, y == 1
    out = {"acc": float((pred == y).float().mean())}
    out["real_recall"] = float((pred[real] == 0).float().mean()) if real.any() else float("nan")
    out["fake_recall"] = float((pred[fake] == 1).float().mean()) if fake.any() else float("nan")
    out["balanced_acc"] = (out["real_recall"] + out["fake_recall"]) / 2
    both = bool(real.any() and fake.any())
    out["auc"] = float(binary_auroc(prob, y)) if both else float("nan")
    out["ap"] = float(binary_average_precision(prob, y)) if both else float("nan")
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")


class DMDetectModule(LightningModule):
    def __init__(
        self,
        image_dim: int = 64,
        text_dim: int = 64,
        hidden: int = 1536,
        n_layers: int = 3,
        dropout: float = 0.335,
        activation: Literal["relu", "leaky_relu"] = "relu",
        inputs: Inputs = "fused",
        # objective (paper Sec. 3): gamma * CVaR_alpha + (1 - gamma) * AUC(eta, p)
        gamma: float = 0.5,
        alpha: float = 0.8,
        eta: float = 0.6,
        p: float = 2.0,
        auc_on: Literal["logit", "sigmoid"] = "logit",
        # optimiser: SAM around AdamW, cyclic cosine LR per epoch
        use_sam: bool = True,
        sam_rho: float = 0.05,
        sam_adaptive: bool = False,
        optimizer: OptimizerCallable = _adamw,
        lr_t_max: int = 8,
        lr_min: float = 1e-5,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.automatic_optimization = False
        self.cfg = config_from(DetectorConfig, self.hparams)
        self.net = Detector(self.cfg)
        self.optimizer = optimizer
        self._outputs: dict[str, list[torch.Tensor]] = {}
        self._extra: dict[str, float] = {}

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.net(image, text)  # (B,) logits

    # --- objective -------------------------------------------------------------------------------------------------
    def _terms(self, batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        h = self.hparams
        logits = self(batch["image"], batch["text"])
        terms = detector_loss(logits, batch["label"], gamma=h.gamma, alpha=h.alpha, eta=h.eta, p=h.p, auc_on=h.auc_on)
        return terms, logits

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``loss`` = gamma * ``cvar`` + (1 - gamma) * ``auc`` (and the mean ``bce``, reported only)."""
        return self._terms(batch)[0]

    def predict_outputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Per-sample probability of being generated (B,)."""
        return {"prob_fake": torch.sigmoid(self(batch["image"], batch["text"]))}

    # --- steps -----------------------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        opt = self.optimizers()
        sam = opt.optimizer
        terms = self.loss_terms(batch)  # BatchNorm running statistics updated here, once per step
        opt.zero_grad()
        self.manual_backward(terms["loss"])
        if self.hparams.use_sam:
            sam.first_step(zero_grad=True)  # w + rho g / ||g||
            with frozen_bn_stats(self.net):
                self.manual_backward(self.loss_terms(batch)["loss"])  # gradient at the perturbed weights
        opt.step()  # SAM: restore w, then the AdamW step with that gradient
        self._log_terms(terms, "train", batch["label"].shape[0])
        return terms["loss"].detach()

    def _log_terms(self, terms: dict[str, torch.Tensor], stage: str, n: int) -> None:
        on_step = stage == "train"
        self.log(f"{stage}/loss", terms["loss"], on_step=on_step, on_epoch=True, sync_dist=True, prog_bar=True,
                 batch_size=n, add_dataloader_idx=False)  # fmt: skip
        for k in ("bce", "cvar", "auc"):
            if k in terms:
                self.log(f"{stage}/{k}", terms[k], on_step=False, on_epoch=True, sync_dist=True, batch_size=n,
                         add_dataloader_idx=False)  # fmt: skip

    def on_train_epoch_end(self) -> None:
        sched = self.lr_schedulers()
        if sched is not None:
            sched.step()

    def _collect(self, key: str, batch: Batch, logits: torch.Tensor) -> None:
        rows = torch.stack([torch.sigmoid(logits.float()), batch["label"].float(), batch["generator"].float()], 1)
        self._outputs.setdefault(key, []).append(rows.detach())

    def _gathered(self, key: str) -> torch.Tensor:
        parts = self._outputs.pop(key, [])
        rows = torch.cat(parts) if parts else torch.zeros(0, 3, device=self.device)
        rows = self.all_gather(rows)
        return rows.reshape(-1, 3) if rows.dim() == 3 else rows

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        terms, logits = self._terms(batch)
        self._log_terms(terms, "val", batch["label"].shape[0])
        self._collect("val", batch, logits)

    def on_validation_epoch_end(self) -> None:
        rows = self._gathered("val")
        if rows.numel():
            m = binary_metrics(rows[:, 0], rows[:, 1])
            for k in ("auc", "acc", "balanced_acc"):
                self.log(f"val/{k}", m[k], prog_bar=k == "auc", rank_zero_only=False, sync_dist=False)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        terms, logits = self._terms(batch)
        if dataloader_idx == 0:
            self._log_terms(terms, "test", batch["label"].shape[0])
        self._collect(f"test{dataloader_idx}", batch, logits)

    def on_test_epoch_start(self) -> None:
        self._outputs = {k: v for k, v in self._outputs.items() if not k.startswith("test")}
        self._extra = {}

    def on_test_epoch_end(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        names = list(getattr(dm, "test_names", ["clean"]))
        gens = list(getattr(dm, "generator_names", []))
        keys = sorted((k for k in self._outputs if k.startswith("test")), key=lambda k: int(k[4:]))
        gathered = {int(k[4:]): self._gathered(k) for k in keys}
        folder = run_dir(self.trainer)  # collective under DDP: every rank
        table = []
        for idx, rows in gathered.items():
            m = binary_metrics(rows[:, 0], rows[:, 1])
            name = names[idx] if idx < len(names) else f"set{idx}"
            suffix = "" if idx == 0 else f"_{_slug(name)}"
            for k, v in m.items():
                self.log(f"test/{k}{suffix}", v, add_dataloader_idx=False)
            table.append({"test set": name, **m})
            if idx == 0:
                for g in sorted({int(v) for v in rows[:, 2].tolist() if v >= 0}):
                    sel = (rows[:, 2] == g) | (rows[:, 1] < 0.5)
                    gname = gens[g] if g < len(gens) else str(g)
                    self._extra[f"test/auc_gen_{_slug(gname)}"] = binary_metrics(rows[sel, 0], rows[sel, 1])["auc"]
        if self.trainer.is_global_zero and gathered:
            save_table(table, folder, "test_sets")
            self._save_roc({names[i] if i < len(names) else str(i): r for i, r in gathered.items()}, folder)

    def _save_roc(self, sets: dict[str, torch.Tensor], folder: Path) -> None:
        fig = new_figure(4.5, 4.0)
        ax = fig.add_subplot()
        for name, rows in sets.items():
            if (rows[:, 1] > 0.5).any() and (rows[:, 1] < 0.5).any():
                fpr, tpr, _ = binary_roc(rows[:, 0], rows[:, 1].long())
                auc = binary_metrics(rows[:, 0], rows[:, 1])["auc"]
                ax.plot(fpr.cpu().numpy(), tpr.cpu().numpy(), label=f"{name} (AUC {auc:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlabel("false positive rate (reals called generated)")
        ax.set_ylabel("true positive rate")
        ax.set_title("ROC, test")
        ax.legend(loc="lower right", fontsize=8)
        save_figure(fig, folder / "roc.png")

    def extra_test_metrics(self) -> dict[str, float]:
        return dict(self._extra)

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, object]]:
        """One row per image: path, probability of being generated, the label at threshold 0.5."""
        prob = self.predict_outputs(batch)["prob_fake"].float().cpu()
        return [{"id": i, "prob_fake": f"{float(q):.6f}", "predicted": "generated" if q > 0.5 else "real"}
                for i, q in zip(batch["id"], prob)]  # fmt: skip

    def configure_optimizers(self) -> dict:
        h = self.hparams
        opt = SAM(self.parameters(), self.optimizer, rho=h.sam_rho, adaptive=h.sam_adaptive)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=h.lr_t_max, eta_min=h.lr_min)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
