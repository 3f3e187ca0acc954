"""LightningModule: EEGEncoder (or a baseline) trained with the paper's objective and evaluated with accuracy
and Cohen's kappa per subject, as the paper reports them.

Objective: cross-entropy with label smoothing (0.2 in the paper) on the fused logits, plus the official explicit
L2 penalties ``l2_conv * sum(conv weights^2) + l2_transformer * sum(transformer linears and heads^2)``. Options:
mixup (``mixup_alpha`` > 0; lambda ~ Beta(alpha, alpha), in-batch permutation) and "multi-task learning" read as
deep supervision (``deep_supervision``: the cross-entropy of every branch's logits added to the fused one, equal
weights, averaged; our reading of the v1 abstract).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable
from torchmetrics.classification import MulticlassAccuracy, MulticlassCohenKappa
from torchmetrics.functional.classification import multiclass_cohen_kappa, multiclass_confusion_matrix

from eegencoder.baselines import build_model
from eegencoder.model import EEGEncoder, EEGEncoderConfig
from paperkit.config import config_from
from paperkit.report import markdown_table, save_confusion_matrix, save_table
from paperkit.runs import run_dir

__all__ = ["EEGEncoderModule"]

log = logging.getLogger(__name__)

Arch = Literal["eegencoder", "eegencoder_no_transformer", "eegnet", "atcnet"]
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # x (B, C, T), y (B,), subject (B,)


class EEGEncoderModule(LightningModule):
    # the EEGEncoderConfig field that is not a constructor argument, and why (the workspace contract checks the rest)
    derived_config_fields: ClassVar[dict[str, str]] = {"use_transformer": "set by arch (eegencoder_no_transformer)"}

    def __init__(
        self,
        arch: Arch = "eegencoder",
        n_chans: int = 22,
        n_times: int = 1125,
        n_classes: int = 4,
        # EEGEncoder sizes (EEGEncoderConfig); kernels/pools also configure the baselines' conv stems
        kernel_1: int = 64,
        kernel_2: int = 16,
        pool_1: int = 8,
        pool_2: int = 7,
        dropout: float = 0.3,
        n_branches: int = 5,
        n_layers: int = 2,
        n_heads: int = 2,
        attn_dropout: float = 0.3,
        f1: int = 16,
        depth_mult: int = 2,
        d_model: int = 32,
        tcn_kernel: int = 4,
        tcn_depth: int = 2,
        mlp_hidden: int = 32,
        rope_base: float = 10000.0,
        norm_eps: float = 1e-6,
        use_tcn: bool = True,
        fast_depthwise: bool = True,
        # official-code quirks (README, "Deviations")
        double_softmax: bool = False,
        eval_dropout: bool = False,
        presoftmax_attn_dropout: bool = False,
        # objective
        label_smoothing: float = 0.2,
        l2_conv: float = 0.0,
        l2_transformer: float = 0.0,
        mixup_alpha: float = 0.0,
        deep_supervision: bool = False,
        optimizer: OptimizerCallable = torch.optim.Adam,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = config_from(EEGEncoderConfig, self.hparams, use_transformer=arch != "eegencoder_no_transformer")
        self.net = build_model(arch, self.cfg)
        if deep_supervision and not isinstance(self.net, EEGEncoder):
            raise ValueError("deep_supervision needs an EEGEncoder architecture (it supervises the DSTS branches)")
        self.optimizer = optimizer
        self.class_names = class_names or [f"class_{i}" for i in range(n_classes)]
        self.metrics = torch.nn.ModuleDict()
        for stage in ("train", "val", "test"):
            self.metrics[f"{stage}_acc"] = MulticlassAccuracy(n_classes, average="micro")  # fraction of correct trials
            self.metrics[f"{stage}_kappa"] = MulticlassCohenKappa(n_classes)
        self._test_outputs: list[torch.Tensor] = []
        self._extra: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, K)

    # --- objective -------------------------------------------------------------------------------------------------
    def _ce(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # with double_softmax the "logits" are probabilities and are log-softmaxed again, as in the official code
        return F.cross_entropy(out, y, label_smoothing=self.hparams.label_smoothing)

    def _classification_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-entropy, fused output) with optional mixup and deep supervision (mixup only in training)."""
        alpha = self.hparams.mixup_alpha
        lam, perm = 1.0, None
        if self.training and alpha > 0:
            lam = float(np.random.beta(alpha, alpha))
            perm = torch.randperm(x.shape[0], device=x.device)
            x = lam * x + (1 - lam) * x[perm]
        if self.hparams.deep_supervision:
            out, branches = self.net(x, return_branches=True)  # (B, K), (B, n, K)
            heads = [out, *branches.unbind(dim=1)]
        else:
            out = self.net(x)
            heads = [out]

        def mixed_ce(o: torch.Tensor) -> torch.Tensor:
            loss = self._ce(o, y)
            return loss if perm is None else lam * loss + (1 - lam) * self._ce(o, y[perm])

        return torch.stack([mixed_ce(o) for o in heads]).mean(), out

    def l2_penalty(self) -> torch.Tensor:
        """Official explicit L2: l2_conv * sum of squared conv weights + l2_transformer * (transformer, heads)."""
        total = torch.zeros((), device=self.device)
        groups = self.net.l2_groups() if isinstance(self.net, EEGEncoder) else {}
        for name, coef in (("conv", self.hparams.l2_conv), ("transformer", self.hparams.l2_transformer)):
            if coef > 0 and groups:
                total = total + coef * sum(p.pow(2).sum() for p in groups[name])
        return total

    # --- steps -----------------------------------------------------------------------------------------------------
    def _terms_and_output(self, batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        x, y, _ = batch
        ce, out = self._classification_loss(x, y)
        terms = {"ce": ce}
        if self.training:  # the official explicit L2 is part of the training objective only
            terms["l2"] = self.l2_penalty()
        terms["loss"] = ce + terms["l2"] if "l2" in terms else ce
        return terms, out

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The objective on a batch: ``ce`` (+ ``l2`` in training) and their sum ``loss``."""
        return self._terms_and_output(batch)[0]

    def predict_outputs(self, batch: Batch) -> torch.Tensor:
        """Class probabilities per trial (B, K)."""
        out = self(batch[0])
        return out if self.hparams.double_softmax else out.softmax(dim=-1)

    def _shared_step(self, batch: Batch, stage: str) -> torch.Tensor:
        _, y, subject = batch
        terms, out = self._terms_and_output(batch)
        loss = terms["loss"]
        pred = out.argmax(dim=-1)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, sync_dist=True, prog_bar=True)
        if stage == "train":
            self.log("train/ce", terms["ce"], on_step=False, on_epoch=True, sync_dist=True)
        for name in ("acc", "kappa"):
            metric = self.metrics[f"{stage}_{name}"]
            metric(pred, y)
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "acc")
        if stage == "test":
            self._test_outputs.append(torch.stack([pred, y, subject], dim=1))
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, object]]:
        """One row per trial for ``predictions.csv``: trial index, label (-1 when the file has none), predicted
        class and the class probabilities."""
        _, y, index = batch
        probs = self.predict_outputs(batch).float().cpu()  # (B, K)
        names = self.class_names
        return [
            {"id": int(i), "label": int(lab), "predicted": names[int(p.argmax())],
             **{f"p_{n}": f"{float(v):.6f}" for n, v in zip(names, p)}}
            for i, lab, p in zip(index.tolist(), y.tolist(), probs)
        ]  # fmt: skip

    # --- per-subject evaluation --------------------------------------------------------------------------------------
    def on_test_epoch_start(self) -> None:
        self._test_outputs.clear()

    def on_test_epoch_end(self) -> None:
        rows = torch.cat(self._test_outputs) if self._test_outputs else torch.zeros(0, 3, dtype=torch.long)
        rows = self.all_gather(rows)
        rows = rows.reshape(-1, 3) if rows.dim() == 3 else rows
        self._test_outputs.clear()
        folder = run_dir(self.trainer)  # a collective (broadcast) under DDP: every rank must call it
        if not self.trainer.is_global_zero or rows.numel() == 0:
            return
        self._extra = self.report_per_subject(rows[:, 0], rows[:, 1], rows[:, 2], folder)

    def report_per_subject(
        self, pred: torch.Tensor, y: torch.Tensor, subject: torch.Tensor, out: Path
    ) -> dict[str, float]:
        """Per-subject accuracy/kappa (CSV + markdown), their means, and a confusion-matrix PNG in ``out``."""
        k = self.hparams.n_classes
        table = []
        for s in sorted(subject.unique().tolist()):
            m = subject == s
            table.append(
                {
                    "subject": int(s),
                    "trials": int(m.sum()),
                    "accuracy": float((pred[m] == y[m]).float().mean()),
                    "kappa": float(multiclass_cohen_kappa(pred[m], y[m], num_classes=k)),
                }
            )
        mean = {
            "test/acc_mean_subjects": float(np.mean([r["accuracy"] for r in table])),
            "test/kappa_mean_subjects": float(np.mean([r["kappa"] for r in table])),
        }
        table.append({"subject": "mean", "trials": len(y), "accuracy": mean["test/acc_mean_subjects"],
                      "kappa": mean["test/kappa_mean_subjects"]})  # fmt: skip
        save_table(table, out, "per_subject")
        cm = multiclass_confusion_matrix(pred, y, num_classes=k).cpu().numpy()
        save_confusion_matrix(cm, self.class_names, out / "confusion_matrix.png", title="Test confusion matrix")
        log.info("Per-subject results (%s):\n%s", out / "per_subject.csv", markdown_table(table))
        return mean

    def extra_test_metrics(self) -> dict[str, float]:
        return dict(self._extra)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.parameters())
