"""LightningModule of CLFA (paper Sec. 3.3-4): the objective, train/val/test/predict steps, metrics, optimiser.

Loss L = α(L_img + L_txt) + β·CE (:mod:`clfa.losses`); α = 0 is the no-alignment ablation. Validation selects the
checkpoint (official: dev macro-F1); test writes ``predictions_test.csv`` and a confusion matrix to the run folder;
``predict`` writes ``predictions.csv`` (class probabilities).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from typing import Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import OptimizerCallable
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics.classification import MulticlassConfusionMatrix

from clfa.losses import clfa_loss
from clfa.metrics import metrics_from_confusion
from clfa.model import CLFA, CLFAConfig
from clfa.optim import warmup_linear
from paperkit.config import config_from
from paperkit.report import save_confusion_matrix
from paperkit.runs import run_dir

__all__ = ["CLFAModule"]

log = logging.getLogger(__name__)


def _adamw(params: Iterable) -> torch.optim.Optimizer:
    """The embedded default's optimiser: torch AdamW, lr 1e-3 (the groups carry their weight decay)."""
    return torch.optim.AdamW(params, lr=1e-3)


class CLFAModule(pl.LightningModule):
    """CLFA classifier with CLIP-guided contrastive alignment.

    Args:
        n_classes, vocab_size, class_names, image_size, use_ocr: linked from the data module.
        text_encoder / image_encoder: ``tiny`` | ``random-base`` | hub id or local folder (:mod:`clfa.encoders`).
        text_* / image_* / patch_size / max_positions: sizes of the ``tiny`` encoders.
        proj_hidden, proj_dim: projection MLP widths (paper 1536, 512 = CLIP width; must equal the teacher's width).
        fusion_layers, fusion_heads, dropout: cross-encoder (paper 3, 8, 0.1).
        aggregator: ``cross`` (CLFA's cross-attention encoder) or ``coattention``; coattention_form: ``official``
            (CLFA's mymodel.py: no tanh on the affinity, no dropout, no bias on W_s) or ``lu2016``.
        pooling: ``mean`` (official pooling_type 1), ``cls`` or ``max``.
        gamma, lambda1: weights of the SenticNet self / text-OCR attention biases (0 = off; official 1).
        alpha, beta, temperature: loss weights and InfoNCE temperature τ (paper 1, 1, 0.1).
        optimizer: the optimiser and its learning rate (``torch.optim.AdamW``, or the official
            ``clfa.optim.BertAdam``: no bias correction, per-tensor clipping ``max_grad_norm``); it receives two
            parameter groups, with ``weight_decay`` and without (biases and norms).
        weight_decay, warmup: recipe; warmup = fraction of steps (official warmup_linear).
    """

    def __init__(
        self,
        n_classes: int = 2,
        vocab_size: int = 30522,
        class_names: list[str] | None = None,
        text_encoder: str = "tiny",
        image_encoder: str = "tiny",
        text_hidden: int = 64,
        text_layers: int = 2,
        text_heads: int = 4,
        max_positions: int = 128,
        image_size: int = 32,
        patch_size: int = 8,
        image_hidden: int = 64,
        image_layers: int = 2,
        image_heads: int = 4,
        proj_hidden: int = 96,
        proj_dim: int = 32,
        fusion_layers: int = 2,
        fusion_heads: int = 4,
        dropout: float = 0.1,
        aggregator: Literal["cross", "coattention"] = "cross",
        coattention_form: Literal["official", "lu2016"] = "official",
        pooling: Literal["mean", "cls", "max"] = "mean",
        use_ocr: bool = False,
        gamma: float = 0.0,
        lambda1: float = 0.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.1,
        optimizer: OptimizerCallable = _adamw,
        weight_decay: float = 0.01,
        warmup: float = 0.05,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.optimizer = optimizer
        self.cfg = config_from(CLFAConfig, self.hparams)
        self.model = CLFA(self.cfg)
        self.class_names = class_names or [str(i) for i in range(n_classes)]
        self.confusion = torch.nn.ModuleDict(
            {s: MulticlassConfusionMatrix(n_classes) for s in ("val", "test")}
        )  # rows = true, columns = predicted
        self._test_rows: list[torch.Tensor] = []
        self._predict_rows: list[torch.Tensor] = []

    # --- forward ----------------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        self_bias = batch.get("self_bias")
        aux_bias = batch.get("aux_bias")
        return self.model(
            batch["input_ids"],
            batch["attention_mask"],
            batch["pixel_values"],
            ocr_ids=batch.get("ocr_ids"),
            ocr_mask=batch.get("ocr_mask"),
            self_bias=hp.gamma * self_bias if self_bias is not None and hp.gamma else None,
            aux_bias=hp.lambda1 * aux_bias if aux_bias is not None and hp.lambda1 else None,
        )

    def _check_teacher(self, batch: dict[str, torch.Tensor]) -> None:
        t = batch.get("teacher_text")
        if t is not None and t.shape[-1] != self.hparams.proj_dim:
            raise ValueError(
                f"teacher embeddings are {t.shape[-1]}-d but model.proj_dim={self.hparams.proj_dim}; set them equal "
                "(512 for CLIP ViT-B/32)"
            )

    def _terms_and_logits(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        self._check_teacher(batch)
        hp = self.hparams
        out = self(batch)
        losses = clfa_loss(
            out,
            batch["labels"],
            batch.get("teacher_text"),
            batch.get("teacher_image"),
            hp.alpha,
            hp.beta,
            hp.temperature,
        )
        return losses, out["logits"]

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """L = alpha (L_img + L_txt) + beta CE (Sec. 3.3): ``loss`` and its terms."""
        return self._terms_and_logits(batch)[0]

    def predict_outputs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class probabilities per pair (B, K)."""
        return self(batch)["logits"].float().softmax(-1)

    def _shared_step(self, batch: dict[str, torch.Tensor], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        losses, logits = self._terms_and_logits(batch)
        on_step = stage == "train"
        bs = batch["labels"].shape[0]
        for k, v in losses.items():
            name = f"{stage}/{k}"
            self.log(name, v, on_step=on_step, on_epoch=True, sync_dist=True, batch_size=bs, prog_bar=k == "loss")
        return losses["loss"], logits

    # --- steps ------------------------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")[0]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, logits = self._shared_step(batch, "val")
        self.confusion["val"].update(logits.argmax(-1), batch["labels"])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, logits = self._shared_step(batch, "test")
        self.confusion["test"].update(logits.argmax(-1), batch["labels"])
        probs = logits.float().softmax(-1)
        self._test_rows.append(torch.cat([batch["index"][:, None].float(), batch["labels"][:, None].float(), probs], 1))

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        probs = self.predict_outputs(batch)
        self._predict_rows.append(torch.cat([batch["index"][:, None].float(), probs], 1))
        return probs

    # --- epoch ends -------------------------------------------------------------------------------------------------
    def _log_metrics(self, stage: str) -> torch.Tensor:
        cm = self.confusion[stage].compute()
        self.confusion[stage].reset()
        positive = 1 if self.hparams.n_classes == 2 else None
        for k, v in metrics_from_confusion(cm, positive).items():
            self.log(f"{stage}/{k}", v, sync_dist=True)
        return cm

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        cm = self._log_metrics("test")
        rows = torch.cat(self._test_rows) if self._test_rows else torch.zeros(0, 2 + self.hparams.n_classes)
        self._test_rows = []
        rows = self.all_gather(rows.to(self.device))
        if rows.dim() == 3:
            rows = rows.reshape(-1, rows.shape[-1])
        out = run_dir(self.trainer)  # on every rank: Trainer.log_dir is a collective (broadcast) under DDP
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            self._write_csv(out / "predictions_test.csv", rows, "test", with_label=True)
            save_confusion_matrix(cm.cpu().numpy(), self.class_names, out / "confusion_matrix.png")

    def on_predict_epoch_end(self) -> None:
        rows = torch.cat(self._predict_rows) if self._predict_rows else torch.zeros(0, 1 + self.hparams.n_classes)
        self._predict_rows = []
        rows = self.all_gather(rows.to(self.device))
        if rows.dim() == 3:
            rows = rows.reshape(-1, rows.shape[-1])
        path = run_dir(self.trainer) / "predictions.csv"  # every rank: log_dir broadcasts under DDP
        if self.trainer.is_global_zero:
            self._write_csv(path, rows, "predict", with_label=False)
            print(f"Predictions written to {path}")

    def _write_csv(self, path, rows: torch.Tensor, split: str, with_label: bool) -> None:
        dm = self.trainer.datamodule
        examples = dm.splits[split].examples if dm is not None and split in getattr(dm, "splits", {}) else None
        seen: set[int] = set()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            probs_cols = [f"prob_{c}" for c in self.class_names]
            w.writerow(["id", *(["label"] if with_label else []), "pred", *probs_cols])
            for r in rows.cpu().tolist():
                i = int(r[0])
                if i in seen:  # DistributedSampler pads with repeats
                    continue
                seen.add(i)
                probs = r[2:] if with_label else r[1:]
                ident = examples[i].id if examples is not None else str(i)
                pred = self.class_names[max(range(len(probs)), key=probs.__getitem__)]
                w.writerow([ident, *([int(r[1])] if with_label else []), pred, *(f"{p:.6f}" for p in probs)])

    # --- optimiser --------------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            # official no_decay = bias and LayerNorm; here every norm's weight (HF ViT names them layernorm_*)
            (no_decay if name.endswith("bias") or "norm" in name.lower() else decay).append(p)
        groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        opt = self.optimizer(groups)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = LambdaLR(opt, lambda step: warmup_linear(step / total, hp.warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
