"""LightningModule: LIO training (Eq. 10: L = CE + 0.1 L_oel + 0.1 L_scl), plain-backbone evaluation, diagnostics.

Metrics: top-1 accuracy (``acc``) and mean per-class accuracy (``acc_per_class``) of the plain classifier, the paper's
metric; where ground-truth masks exist (synthetic, CUB segmentations) the OEL mask IoU (``mask_iou``: b = [m > mean m]
against the mask average-pooled to the head grid and thresholded at 0.5), the object-area fraction of that grid mask
(``mask_area``, the IoU of a trivial all-object guess is about this) and the Pearson correlation between SCL's predicted
distance and the true distance to the object centre on object cells (``scl_dist_pearson``). After ``test``: a figure of
predicted masks over test images (``masks.png``) and a per-class accuracy table in the run folder.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable
from torchmetrics import MeanMetric, PearsonCorrCoef
from torchmetrics.classification import MulticlassAccuracy

from lio.losses import polar_targets
from lio.model import LIO, LIOConfig
from paperkit.config import config_from
from paperkit.report import new_figure, save_figure, save_table
from paperkit.runs import run_dir

__all__ = ["LIOModule"]

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


def _sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=1e-3, momentum=0.9)


class LIOModule(LightningModule):
    def __init__(
        self,
        n_classes: int = 10,
        group_size: int = 4,
        backbone: str = "tiny_resnet",
        pretrained: str | None = None,
        tiny_widths: list[int] | None = None,
        tiny_strides: list[int] | None = None,
        tiny_blocks: int = 1,
        tiny_stem_stride: int = 1,
        stage: Literal[1, 2, 3] = 3,
        head_pool: int = 2,
        use_oel: bool = True,
        use_scl: bool = True,
        alpha: float = 0.1,
        beta: float = 0.1,
        oel_grouping: Literal["paper", "official"] = "paper",
        detach_pseudo_mask: bool = True,
        scl_centre: Literal["oel", "structure"] = "oel",
        scl_distance_norm: Literal["sqrt2N", "N"] = "sqrt2N",
        scl_reduction: Literal["paper", "official"] = "paper",
        extra_stages: list[int] | None = None,
        warmup_epochs: int = 0,
        ramp_epochs: int = 0,
        optimizer: OptimizerCallable = _sgd,
        lr: float = 1e-3,
        head_lr_mult: float = 10.0,
        scheduler: Literal["multistep", "cosine", "none"] = "multistep",
        milestones: list[int] | None = None,
        lr_warmup_epochs: int = 2,
        lr_warmup_factor: float = 0.1,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        derived = {
            "tiny_widths": list(tiny_widths or [16, 32, 64, 128]),
            "tiny_strides": list(tiny_strides or [1, 2, 2, 2]),
            "extra_stages": list(extra_stages or []),
        }
        self.cfg = config_from(LIOConfig, self.hparams, **derived)
        self.model = LIO(self.cfg)
        self.optimizer = optimizer
        self.class_names = list(class_names or [f"class_{i}" for i in range(n_classes)])
        self.metrics = torch.nn.ModuleDict()
        for stage_name in ("val", "test"):
            self.metrics[f"{stage_name}_acc"] = MulticlassAccuracy(n_classes, average="micro")
            self.metrics[f"{stage_name}_acc_per_class"] = MulticlassAccuracy(n_classes, average="macro")
            self.metrics[f"{stage_name}_mask_iou"] = MeanMetric()
            self.metrics[f"{stage_name}_mask_area"] = MeanMetric()
            self.metrics[f"{stage_name}_scl_dist_pearson"] = PearsonCorrCoef()
        self.train_acc = MulticlassAccuracy(n_classes, average="micro")
        self._test_rows: list[torch.Tensor] = []
        self._figure_batch: dict[str, torch.Tensor] | None = None
        self._extra: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, K)

    def head_weight(self) -> float:
        """Warm-up of random-init backbones: 0 for ``warmup_epochs`` epochs, then a linear ramp to 1 over
        ``ramp_epochs`` (the scale of the OEL/SCL gradient into the backbone; 1 throughout in the paper)."""
        e, w, r = self.current_epoch, self.hparams.warmup_epochs, self.hparams.ramp_epochs
        if e < w:
            return 0.0
        return 1.0 if r <= 0 else min(1.0, (e - w + 1) / r)

    # --- objective -------------------------------------------------------------------------------------------------
    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``ce`` (+ ``oel``, ``scl``) and ``loss`` = CE + alpha L_oel + beta L_scl on a grouped training batch."""
        return self._objective(batch)[0]

    def _objective(self, batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.model.objective(batch["image"], batch["label"], self.hparams.group_size, self.head_weight())

    def predict_outputs(self, batch: Batch) -> torch.Tensor:
        """Class probabilities (B, K) of the plain classifier."""
        return self(batch["image"]).softmax(dim=-1)

    # --- steps -----------------------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        terms, logits = self._objective(batch)
        n = batch["image"].shape[0]
        for k, v in terms.items():
            self.log(f"train/{k}", v, on_step=k == "loss", on_epoch=True, sync_dist=True, batch_size=n,
                     prog_bar=k == "loss")  # fmt: skip
        self.train_acc(logits.argmax(-1), batch["label"])
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=n)
        return terms["loss"]

    def _eval_step(self, batch: Batch, stage: str) -> torch.Tensor:
        x, y = batch["image"], batch["label"]
        maps = self.model.net.features(x)
        logits = self.model.net.head(maps[3])
        loss = F.cross_entropy(logits, y)
        n = x.shape[0]
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=n)
        pred = logits.argmax(-1)
        for name in ("acc", "acc_per_class"):
            metric = self.metrics[f"{stage}_{name}"]
            metric(pred, y)
            self.log(f"{stage}/{name}", metric, on_epoch=True, prog_bar=name == "acc", batch_size=n)
        if self.model.heads is not None and bool(batch["has_mask"].any()):
            self._diagnostics(batch, maps, stage)
        if stage == "test":
            self._test_rows.append(torch.stack([pred, y], dim=1))
            if self._figure_batch is None:  # 8 images spread over the first batch (test sets are sorted by class)
                pick = torch.linspace(0, n - 1, min(8, n), device=x.device).long()
                self._figure_batch = {k: v[pick].detach().cpu() for k, v in batch.items()}
        return loss

    def _diagnostics(self, batch: Batch, maps: dict[int, torch.Tensor], stage: str) -> None:
        """OEL mask IoU / object-area fraction and the SCL distance correlation on the images with masks."""
        keep = batch["has_mask"].bool()
        out = self.model.head_outputs({k: v[keep] for k, v in maps.items()})
        m = out["m"]  # (B, N, N)
        grid = m.shape[-2:]
        gt = F.adaptive_avg_pool2d(batch["mask"][keep], grid)[:, 0] > 0.5  # (B, N, N)
        region, _ = self._region(m, out.get("h"))
        inter = (region & gt).flatten(1).sum(1).float()
        union = (region | gt).flatten(1).sum(1).float().clamp_min(1)
        n = int(keep.sum())
        if self.cfg.use_oel:
            self.metrics[f"{stage}_mask_iou"](inter / union)
            self.log(f"{stage}/mask_iou", self.metrics[f"{stage}_mask_iou"], on_epoch=True, batch_size=n)
        self.metrics[f"{stage}_mask_area"](gt.flatten(1).float().mean(1))
        self.log(f"{stage}/mask_area", self.metrics[f"{stage}_mask_area"], on_epoch=True, batch_size=n)
        if self.cfg.use_scl and bool(gt.any()):
            centre, _ = self.model.centre_and_region(m, out["h"])
            d_hat, _ = self.model.heads.polar(out["h"], centre)
            size = batch["image"].shape[-1]
            true_centre = (batch["centre"][keep] + 0.5) / size * grid[0] - 0.5  # pixels -> grid coordinates
            d_true, _ = polar_targets(true_centre, tuple(grid), self.cfg.scl_distance_norm)
            metric = self.metrics[f"{stage}_scl_dist_pearson"]
            metric(d_hat[gt].float(), d_true[gt].float())
            self.log(f"{stage}/scl_dist_pearson", metric, on_epoch=True, batch_size=n)

    def _region(self, m: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        centre, region = self.model.centre_and_region(m, h)
        return region, centre

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_train_epoch_start(self) -> None:
        self.log("train/head_weight", self.head_weight(), on_step=False, on_epoch=True, sync_dist=True)

    def on_fit_start(self) -> None:
        folder = run_dir(self.trainer)  # collective under DDP
        dm = self.trainer.datamodule
        if self.trainer.is_global_zero and dm is not None and hasattr(dm, "save_split"):
            dm.save_split(folder)

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, object]]:
        """One row per image for ``predictions.csv``: the file and the top-5 classes with their probabilities."""
        probs = self.predict_outputs(batch).float().cpu()  # (B, K)
        files = getattr(self.trainer.datamodule, "predict_files", [])
        k = min(5, probs.shape[1])
        top_p, top_i = probs.topk(k, dim=1)
        rows = []
        for idx, p, c in zip(batch["index"].tolist(), top_p, top_i):
            row: dict[str, object] = {"id": int(idx), "file": files[idx] if idx < len(files) else ""}
            for r in range(k):
                row[f"top{r + 1}_class"] = self.class_names[int(c[r])]
                row[f"top{r + 1}_prob"] = f"{float(p[r]):.6f}"
            rows.append(row)
        return rows

    # --- test report -------------------------------------------------------------------------------------------------
    def on_test_epoch_start(self) -> None:
        self._test_rows.clear()
        self._figure_batch = None

    def on_test_epoch_end(self) -> None:
        rows = torch.cat(self._test_rows) if self._test_rows else torch.zeros(0, 2, dtype=torch.long)
        rows = self.all_gather(rows)
        rows = rows.reshape(-1, 2) if rows.dim() == 3 else rows
        self._test_rows.clear()
        folder = run_dir(self.trainer)
        if not self.trainer.is_global_zero or rows.numel() == 0:
            return
        pred, y = rows[:, 0].cpu(), rows[:, 1].cpu()
        table = []
        for c in range(self.hparams.n_classes):
            sel = y == c
            if sel.any():
                acc = float((pred[sel] == c).float().mean())
                table.append({"class": self.class_names[c], "images": int(sel.sum()), "accuracy": acc})
        save_table(table, folder, "per_class_accuracy")
        if self._figure_batch is not None and self.model.heads is not None:
            self._save_mask_figure(self._figure_batch, folder / "masks.png")

    def _save_mask_figure(self, batch: dict[str, torch.Tensor], path: Any) -> None:
        """Test images with the OEL region b = [m > mean m] (red) and the ground-truth mask outline (if known)."""
        with torch.no_grad():
            x = batch["image"].to(self.device)
            out = self.model.head_outputs(self.model.net.features(x))
            region, centre = self._region(out["m"], out.get("h"))
        n = x.shape[0]
        fig = new_figure(2.0 * n, 2.2)
        size = x.shape[-1]
        for i in range(n):
            ax = fig.add_subplot(1, n, i + 1)
            img = x[i].cpu().permute(1, 2, 0).numpy()
            img = (img - img.min()) / max(1e-6, float(img.max() - img.min()))
            ax.imshow(img)
            r = region[i].float().cpu().numpy()
            ax.imshow(
                np.ma.masked_where(r < 0.5, r), cmap="autumn", alpha=0.45, extent=(-0.5, size - 0.5, size - 0.5, -0.5)
            )
            if bool(batch["has_mask"][i]):
                ax.contour(batch["mask"][i, 0].numpy(), levels=[0.5], colors="cyan", linewidths=0.8)
            g = region.shape[-1]
            cy, cx = ((centre[i].float().cpu() + 0.5) * size / g - 0.5).tolist()
            ax.plot([cx], [cy], "w+", markersize=8)
            ax.set_axis_off()
            ax.set_title(self.class_names[int(batch["label"][i])][:14], fontsize=6)
        save_figure(fig, path)

    def extra_test_metrics(self) -> dict[str, float]:
        return dict(self._extra)

    # --- optimisation ------------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """Backbone at ``lr``; classifier and every LIO head at ``lr * head_lr_mult`` (x10 in the paper). Schedule per
        epoch: ``lr_warmup_epochs`` at ``lr_warmup_factor``, then x0.1 at each milestone (paper) or cosine."""
        hp = self.hparams
        backbone = list(self.model.net.backbone.parameters())
        heads = list(self.model.net.fc.parameters()) + self.model.head_parameters()
        opt = self.optimizer([{"params": backbone, "lr": hp.lr}, {"params": heads, "lr": hp.lr * hp.head_lr_mult}])
        if hp.scheduler == "none" and hp.lr_warmup_epochs <= 0:
            return opt
        max_epochs = max(1, int(self.trainer.max_epochs or 1)) if self._trainer is not None else 1
        milestones = list(hp.milestones or [])

        def factor(epoch: int) -> float:
            f = hp.lr_warmup_factor if epoch < hp.lr_warmup_epochs else 1.0
            if hp.scheduler == "multistep":
                f *= 0.1 ** sum(epoch >= m for m in milestones)
            elif hp.scheduler == "cosine":
                f *= 0.5 * (1 + math.cos(math.pi * min(epoch, max_epochs) / max_epochs))
            return f

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
