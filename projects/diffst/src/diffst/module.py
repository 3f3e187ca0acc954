"""LightningModule: Diff-ST trained with L = Charbonnier(eps, eps_hat) + L_vlb + 0.01 L_dis (Sec. 2.4) and
evaluated by sampling the super-resolved maps (20 respaced DDPM steps) and scoring PCC / SSIM / RMSE (+ MSE, MAE)
per gene and patch, beside the nearest and bicubic upsampling of the spot map.

Architectures (``arch``): ``diffst`` (the paper), ``bare`` (the same denoiser without the histology branches), and
``regression`` (a deterministic conditional U-Net: the same network and conditioner, input = bicubic-upsampled spot
map, trained with L1 on the HR map, no diffusion).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable

from diffst.diffusion import GaussianDiffusion, charbonnier, linear_betas
from diffst.metrics import METRICS, baseline_upsample, per_map_metrics, summarize
from diffst.model import DiffSTConfig, DiffSTUNet, ModelOutput
from paperkit.config import config_from
from paperkit.report import markdown_table, new_figure, save_figure, save_table
from paperkit.runs import run_dir

__all__ = ["DiffSTModule", "curriculum_ratio", "write_h5ad"]

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


def _adamw(params: Iterable) -> torch.optim.Optimizer:
    """The paper's optimiser: AdamW, lr 1e-4, weight decay 1e-5 (the embedded default's YAML raises the lr)."""
    return torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-5)


def curriculum_ratio(progress: float, fractions: list[float], ratios: list[float]) -> float:
    """The dynamic cross-attention curriculum (Sec. 2.3): ``ratios[i]`` of the tiles until ``fractions[i]`` of the
    training iterations, then ``ratios[-1]`` (paper: 0.25 until 2.5 %, 0.5 until 5 %, then all tiles)."""
    for frac, r in zip(fractions, ratios):
        if progress < frac:
            return r
    return ratios[-1]


class DiffSTModule(LightningModule):
    derived_config_fields: ClassVar[dict[str, str]] = {
        "use_histology": "set by arch (bare = no histology branches)",
        "learn_sigma": "set by arch and learn_sigma (regression outputs G channels)",
    }

    def __init__(
        self,
        arch: Literal["diffst", "bare", "regression"] = "diffst",
        genes: int = 8,
        lr_size: int = 8,
        hr_size: int = 32,
        tile_size: int = 8,
        n_tiles: int = 16,
        channels: int = 32,
        norm_groups: int = 8,
        dropout: float = 0.0,
        learn_sigma: bool = True,
        gcn_mix: float = 0.02,
        attn_mix: float = 0.1,
        modulation_mix: float = 0.1,
        official_alias: bool = False,
        # diffusion
        diffusion_steps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        sampling_steps: str = "20",
        sampler: Literal["ddpm", "ddim"] = "ddpm",
        target_scale: Literal["minus_one_one", "official_01"] = "minus_one_one",
        # objective (Eq. 8-10)
        lambda_vlb: float = 1.0,
        lambda_dis: float = 0.01,
        charbonnier_eps: float = 1e-6,
        curriculum_fractions: list[float] | None = None,
        curriculum_ratios: list[float] | None = None,
        # evaluation (official variants as options)
        abs_pcc: bool = False,
        ssim_uint8_225: bool = False,
        skip_zeros: bool = False,
        sample_seed: int = 0,
        figure_genes: int = 4,
        optimizer: OptimizerCallable = _adamw,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = config_from(
            DiffSTConfig, self.hparams, use_histology=arch != "bare", learn_sigma=learn_sigma and arch != "regression"
        )
        self.net = DiffSTUNet(self.cfg)
        self.optimizer = optimizer
        # the gene graph is data: set from the training split at fit, saved with the weights
        self.register_buffer("adjacency", torch.ones(genes, genes))
        self.gene_names = [f"gene_{i}" for i in range(genes)]
        self.fractions = curriculum_fractions if curriculum_fractions is not None else [0.025, 0.05]
        self.ratios = curriculum_ratios if curriculum_ratios is not None else [0.25, 0.5, 1.0]
        if len(self.ratios) != len(self.fractions) + 1:
            raise ValueError("curriculum_ratios needs one more entry than curriculum_fractions")
        self.diffusion = GaussianDiffusion(linear_betas(diffusion_steps, beta_start, beta_end))
        self.sampling = self.diffusion.respaced(f"ddim{sampling_steps}" if sampler == "ddim" else sampling_steps)
        scale = 1000 / diffusion_steps  # improved diffusion's rescaled linear schedule (identity at T = 1000)
        self.scheduler = DDPMScheduler(
            num_train_timesteps=diffusion_steps,
            beta_start=scale * beta_start,
            beta_end=scale * beta_end,
            beta_schedule="linear",
            variance_type="learned_range",
            timestep_spacing="linspace",
        )
        self._test: dict[str, list[torch.Tensor]] = {}
        self._extra: dict[str, float] = {}
        self._pred: list[tuple[torch.Tensor, torch.Tensor]] = []

    # --- data hooks ------------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if stage == "fit" and dm is not None and getattr(dm, "adjacency", None) is not None:
            self.attach_data(dm)

    def attach_data(self, datamodule: Any) -> None:
        """Copy the training split's gene graph and gene names into the module."""
        adj = torch.as_tensor(np.asarray(datamodule.adjacency), dtype=torch.float32)
        if adj.shape != self.adjacency.shape:
            raise ValueError(f"gene graph {tuple(adj.shape)} does not match genes={self.hparams.genes}")
        self.adjacency.copy_(adj)
        self.gene_names = list(datamodule.gene_names)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["gene_names"] = self.gene_names

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.gene_names = checkpoint.get("gene_names", self.gene_names)

    # --- network ---------------------------------------------------------------------------------------------------
    def to_target(self, hr: torch.Tensor) -> torch.Tensor:
        """[0, 1] maps -> the diffusion's data space: 2x - 1 (paper), or [0, 1] as the official code."""
        return hr * 2 - 1 if self.hparams.target_scale == "minus_one_one" else hr

    def from_target(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2 if self.hparams.target_scale == "minus_one_one" else x
        return x.clamp(0, 1)

    def ratio(self) -> float:
        """Dynamic cross-attention curriculum: the fraction of entropy-sorted tiles at this training step."""
        if not self.training or self._trainer is None:
            return self.ratios[-1]
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return curriculum_ratio(self.global_step / total, self.fractions, self.ratios)

    def _net(self, x: torch.Tensor, t: torch.Tensor, batch: Batch, ratio: float = 1.0) -> ModelOutput:
        return self.net(x, t, batch["lr"], batch["image"], batch["tiles"], self.adjacency, ratio)

    def _regression_input(self, batch: Batch) -> torch.Tensor:
        return self.to_target(baseline_upsample(batch["lr"], self.hparams.hr_size, "bicubic").clamp(0, 1))

    @staticmethod
    def disentangle_loss(o: ModelOutput) -> torch.Tensor:
        """L_dis = mean((com_wsi - com_spot)^2) / mean((dist_wsi - dist_spot)^2) (Eq. 6)."""
        num = (o.com_wsi - o.com_spot).pow(2).mean()
        return num / ((o.dist_wsi - o.dist_spot).pow(2).mean() + 1e-6)

    # --- objective -------------------------------------------------------------------------------------------------
    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        h = self.hparams
        x0 = self.to_target(batch["hr"])  # (B, G, H, H)
        terms: dict[str, torch.Tensor] = {}
        if h.arch == "regression":
            t = torch.zeros(x0.shape[0], dtype=torch.long, device=x0.device)
            o = self._net(self._regression_input(batch), t, batch, self.ratio())
            terms["l1"] = F.l1_loss(o.out, x0)
            loss = terms["l1"]
        else:
            t = torch.randint(0, self.diffusion.num_timesteps, (x0.shape[0],), device=x0.device)
            noise = torch.randn_like(x0)
            xt = self.scheduler.add_noise(x0, noise, t)  # Eq. 1 (diffusers; equal to q_sample, tested)
            o = self._net(xt, t, batch, self.ratio())
            eps, v = self.diffusion.split_output(o.out, self.cfg.learn_sigma)
            terms["charbonnier"] = charbonnier(eps, noise, h.charbonnier_eps)
            loss = terms["charbonnier"]
            if v is not None:
                terms["vlb"] = self.diffusion.vlb_terms(eps, v, x0, xt, t).mean()
                loss = loss + h.lambda_vlb * terms["vlb"]
        if o.com_wsi is not None:
            terms["dis"] = self.disentangle_loss(o)
            loss = loss + h.lambda_dis * terms["dis"]
        terms["loss"] = loss
        return terms

    # --- inference -------------------------------------------------------------------------------------------------
    def _noise_fn(self, batch: Batch):
        """Standard normals drawn per sample from a generator seeded by (sample_seed, patch index): a sample's
        output does not depend on its batch mates or position."""
        shape = (self.hparams.genes, self.hparams.hr_size, self.hparams.hr_size)
        gens = [
            torch.Generator().manual_seed(int(self.hparams.sample_seed) * 1_000_003 + int(i))
            for i in batch["index"].tolist()
        ]
        dev = batch["lr"].device
        return lambda _step: torch.stack([torch.randn(shape, generator=g) for g in gens]).to(dev)

    @torch.no_grad()
    def super_resolve(self, batch: Batch) -> torch.Tensor:
        """(B, G, H, H) super-resolved maps in [0, 1]."""
        h = self.hparams
        b = batch["lr"].shape[0]
        if h.arch == "regression":
            t = torch.zeros(b, dtype=torch.long, device=batch["lr"].device)
            return self.from_target(self._net(self._regression_input(batch), t, batch).out)
        shape = (b, h.genes, h.hr_size, h.hr_size)
        x = self.sampling.sample(
            lambda xt, t: self._net(xt, t, batch).out,
            shape,
            self._noise_fn(batch),
            learn_sigma=self.cfg.learn_sigma,
            method=h.sampler,
        )
        return self.from_target(x)

    def predict_outputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"sr": self.super_resolve(batch)}

    # --- steps -----------------------------------------------------------------------------------------------------
    def _shared_step(self, batch: Batch, stage: str) -> torch.Tensor:
        terms = self.loss_terms(batch)
        on_step = stage == "train"
        bs = batch["lr"].shape[0]
        self.log(
            f"{stage}/loss", terms["loss"], on_step=on_step, on_epoch=True, sync_dist=True, prog_bar=True, batch_size=bs
        )
        if stage == "train":
            for k, v in terms.items():
                if k != "loss":
                    self.log(f"train/{k}", v, on_step=False, on_epoch=True, sync_dist=True, batch_size=bs)
            self.log("train/tile_ratio", self.ratio(), on_step=False, on_epoch=True, batch_size=bs)
        return terms["loss"]

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def _scores(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.hparams
        return per_map_metrics(sr, hr, abs_pcc=h.abs_pcc, ssim_uint8_225=h.ssim_uint8_225)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")
        scores = self._scores(self.super_resolve(batch), batch["hr"])
        for k in ("pcc", "ssim", "rmse"):
            val = torch.tensor(summarize(scores[k], self.hparams.skip_zeros), device=self.device)
            self.log(f"val/{k}", val, on_epoch=True, sync_dist=True, batch_size=batch["lr"].shape[0])

    def on_test_epoch_start(self) -> None:
        self._test = {}

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")
        sr = self.super_resolve(batch)
        hr = batch["hr"]
        size = self.hparams.hr_size
        outs = {
            "": sr,
            "bicubic_": baseline_upsample(batch["lr"], size, "bicubic"),
            "nearest_": baseline_upsample(batch["lr"], size, "nearest"),
        }
        for prefix, pred in outs.items():
            for k, v in self._scores(pred, hr).items():
                self._test.setdefault(prefix + k, []).append(v.cpu())
        # consistency: the block mean of the output against the (min-max scaled) spot map
        f = size // self.hparams.lr_size
        block = (
            F.avg_pool2d(sr, f)
            if size % self.hparams.lr_size == 0
            else F.adaptive_avg_pool2d(sr, batch["lr"].shape[-2:])
        )
        lr_scores = per_map_metrics(block, batch["lr"])
        self._test.setdefault("lr_consistency_rmse", []).append(lr_scores["rmse"].cpu())
        if batch_idx == 0:
            self._figure = (batch["lr"][:4].cpu(), outs["bicubic_"][:4].cpu(), sr[:4].cpu(), hr[:4].cpu())
        for k in METRICS:
            val = torch.tensor(summarize(self._test[k][-1], self.hparams.skip_zeros), device=self.device)
            self.log(f"test/{k}", val, on_epoch=True, sync_dist=True, batch_size=sr.shape[0])

    def on_test_epoch_end(self) -> None:
        folder = run_dir(self.trainer)  # collective under DDP
        if not self.trainer.is_global_zero or not self._test:
            return
        sk = self.hparams.skip_zeros
        cat = {k: torch.cat(v) for k, v in self._test.items()}  # (n, G)
        self._extra = {
            f"test/{k}": summarize(v, sk)
            for k, v in cat.items()
            if not k.startswith(("pcc", "ssim", "rmse", "mse", "mae"))
        }
        rows = []
        for g, name in enumerate(self.gene_names):
            row: dict[str, Any] = {"gene": name}
            for k in METRICS:
                row[k] = summarize(cat[k][:, g], sk)
                row[f"bicubic_{k}"] = summarize(cat[f"bicubic_{k}"][:, g], sk)
            rows.append(row)
        save_table(rows, folder, "per_gene")
        log.info("Per-gene test metrics (%s):\n%s", folder / "per_gene.csv", markdown_table(rows))
        if getattr(self, "_figure", None) is not None:
            self.save_maps_figure(*self._figure, folder / "super_resolved.png")

    def save_maps_figure(
        self, lr: torch.Tensor, bicubic: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, path
    ) -> None:
        """LR, bicubic, Diff-ST and HR maps of the first genes of the first test patch."""
        n = min(self.hparams.figure_genes, self.hparams.genes)
        fig = new_figure(2.0 * 4, 2.0 * n)
        cols = [("LR spots", lr[0]), ("bicubic", bicubic[0]), ("super-resolved", sr[0]), ("HR truth", hr[0])]
        for gi in range(n):
            for ci, (title, maps) in enumerate(cols):
                ax = fig.add_subplot(n, 4, gi * 4 + ci + 1)
                ax.imshow(maps[gi].numpy(), cmap="magma", interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if gi == 0:
                    ax.set_title(title, fontsize=9)
                if ci == 0:
                    ax.set_ylabel(self.gene_names[gi], fontsize=8)
        save_figure(fig, path)

    def extra_test_metrics(self) -> dict[str, float]:
        return dict(self._extra)

    # --- predict ---------------------------------------------------------------------------------------------------
    def on_predict_epoch_start(self) -> None:
        self._pred = []

    def predict_step(self, batch: Batch, batch_idx: int) -> list[dict[str, object]]:
        sr = self.super_resolve(batch).cpu()
        self._pred.append((batch["index"].cpu(), sr))
        names = self._patch_names()
        return [
            {
                "id": int(i),
                "patch": names[int(i)] if int(i) < len(names) else str(int(i)),
                **{f"mean_{g}": f"{float(m):.6f}" for g, m in zip(self.gene_names, s.mean(dim=(1, 2)))},
            }
            for i, s in zip(batch["index"].tolist(), sr)
        ]

    def _patch_names(self) -> list[str]:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return list(getattr(dm, "predict_names", []) or [])

    def on_predict_epoch_end(self) -> None:
        folder = run_dir(self.trainer)
        if not self.trainer.is_global_zero or not self._pred:
            return
        index = torch.cat([i for i, _ in self._pred])
        sr = torch.cat([s for _, s in self._pred])[index.argsort()].numpy()  # (n, G, H, H)
        np.save(folder / "super_resolved.npy", sr)
        write_h5ad(sr, self._patch_names(), self.gene_names, folder / "super_resolved.h5ad")
        log.info("Super-resolved maps written to %s (.npy and .h5ad)", folder)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.parameters())


def write_h5ad(sr: np.ndarray, patches: list[str], genes: list[str], path) -> None:
    """Super-resolved maps (n, G, H, H) as AnnData: one observation per HR bin, ``obsm["spatial"]`` = (x, y) in HR
    bins (patches named ``r<row>_c<col>`` by ``diffst prepare`` are placed on their grid), ``obs["patch"]``."""
    import anndata as ad
    import pandas as pd

    n, g, h, w = sr.shape
    yy, xx = np.mgrid[0:h, 0:w]
    coords, names, labels = [], [], []
    for p in range(n):
        name = patches[p] if p < len(patches) else str(p)
        m = re.search(r"r(\d+)_c(\d+)", name)
        oy, ox = (int(m.group(1)) * h, int(m.group(2)) * w) if m else (0, 0)
        coords.append(np.stack([xx.ravel() + ox, yy.ravel() + oy], axis=1))
        names.extend(f"{name}:{y}_{x}" for y, x in zip(yy.ravel(), xx.ravel()))
        labels.extend([name] * (h * w))
    x = sr.transpose(0, 2, 3, 1).reshape(n * h * w, g).astype(np.float32)
    obs = pd.DataFrame({"patch": pd.Categorical(labels)}, index=names)
    adata = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=list(genes)))
    adata.obsm["spatial"] = np.concatenate(coords).astype(np.float32)
    adata.uns["diffst"] = {"units": "HR bins", "values": "per patch and gene min-max scaled expression"}
    adata.write_h5ad(path)
