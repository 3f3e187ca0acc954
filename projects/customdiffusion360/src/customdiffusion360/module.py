"""LightningModule: customisation of a frozen base with FeatureNeRF pose blocks (paper Sections 3.3-3.4, 4).

Training (``loss_terms``): the target is noised at t from the cubic sampler t = ⌊(1 - u³) 999⌋, the references at
their grid levels; the reference stream runs through the frozen UNet without gradients (its features are
memoised per (view, level, prompt), with one fixed noise draw per entry, while the base is frozen); the masked
diffusion loss and the rendering losses of ``losses.py`` are combined with λ_fg, λ_bg, λ_rgb.

Evaluation at held-out poses (validation / test):

* ``mse_true`` / ``mse_shifted``: the masked ε-MSE with the true target camera and with the camera moved
  ``shift_deg`` (90°) about the orbit axis, with the same (t, noise) per case (``eval_draws`` cases per view);
  ``camera_win_rate``: the fraction of cases where the true camera is better (the camera-conditioning test);
* ``iou``: opacity O > 0.5 vs the mask (torchmetrics Jaccard index), ``psnr``: the rendered RGB composited on
  white vs the image (torchmetrics PSNR), both over the pose blocks' maps;
* test only: samples (three-way guidance, DDIM) at the test views, ``samples_azimuth.png`` in the run folder, and
  for the synthetic cube ``face_acc`` (per-pixel agreement of the nearest face colour inside the mask; chance ~1/6)
  and ``dominant_face_acc``.

After ``fit`` the trained delta (pose modules + token rows + the reference views) is written as one safetensors
file, ``delta.safetensors``, in the run folder (``model.save_delta`` / ``model.load_delta``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable
from pytorch_lightning.utilities.seed import isolate_rng
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryJaccardIndex
from torchmetrics.image import PeakSignalNoiseRatio

from customdiffusion360.base import Base, TinyBaseConfig, build_tiny_base, load_base
from customdiffusion360.losses import (
    background_loss,
    dilate,
    downsample_mask,
    masked_diffusion_loss,
    rgb_loss,
    silhouette_loss,
)
from customdiffusion360.model import CustomDiffusion360, PoseConfig, save_delta
from customdiffusion360.nerf import Cameras, NeRFOutput
from customdiffusion360.sampling import guided_sample, per_sample_noise
from paperkit.config import config_from
from paperkit.errors import PaperkitError
from paperkit.runs import run_dir
from paperkit.synthetic import cached_dir

__all__ = ["CD360Module"]

log = logging.getLogger(__name__)

BASE_VERSION = 1  # bump when the tiny base's pre-training changes


class CD360Module(LightningModule):
    derived_config_fields: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        base: str = "tiny",
        base_kind: Literal["pixel", "sdxl"] = "pixel",
        base_cache: str = "~/.cache/customdiffusion360",
        base_pretrain_steps: int = 200,
        base_pretrain_batch: int = 8,
        base_pretrain_lr: float = 2e-3,
        base_seed: int = 0,
        # tiny base sizes (TinyBaseConfig)
        image_size: int = 32,
        block_out_channels: tuple[int, ...] = (16, 32, 32),
        layers_per_block: int = 1,
        attention_head_dim: int = 8,
        norm_num_groups: int = 8,
        text_dim: int = 32,
        text_layers: int = 2,
        text_heads: int = 2,
        max_length: int = 12,
        token: str = "<new1>",
        init_token: str | int | None = "cube",
        # pose blocks (PoseConfig)
        pose_transformers: tuple[int, ...] = (0, 2),
        pose_every: int = 4,
        n_samples: int = 12,
        near: float = 0.0,
        far: float = 2.0,
        pe_points: int = 6,
        pe_points_min_exp: int = -2,
        pe_rays: int = 3,
        pe_rays_min_exp: int = -1,
        aggregation: Literal["softmax", "average"] = "softmax",
        text3d: bool = True,
        importance_prob: float = 0.9,
        clip_grid: float = 1.2,
        trainkeys: Literal["pose", "poseattn", "all"] = "pose",
        use_pose: bool = True,
        # objective
        lambda_fg: float = 10.0,
        lambda_bg: float = 10.0,
        lambda_rgb: float = 5.0,
        mask_dilation: int = 3,
        timestep_sampler: Literal["cubic", "uniform"] = "cubic",
        ref_noise_twice: bool = False,
        rgb_full_res_norm: bool = False,
        attn_lr_scale: float = 0.05,
        cache_references: bool = True,
        # evaluation and sampling
        eval_draws: int = 4,
        shift_deg: float = 90.0,
        sample_steps: int = 20,
        guidance_text: float = 7.5,
        guidance_image: float = 3.5,
        sample_seed: int = 0,
        alignment: bool = False,
        clip_model: str = "openai/clip-vit-large-patch14",
        dino_model: str = "facebook/dinov2-base",
        optimizer: OptimizerCallable = lambda p: torch.optim.AdamW(p, lr=1e-4),
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer = optimizer
        h = self.hparams
        self.tiny_cfg = config_from(TinyBaseConfig, h)
        self.cfg = config_from(PoseConfig, h)
        if base == "tiny":
            if base_kind != "pixel":
                raise ValueError("base 'tiny' is the pixel-space stand-in: set base_kind: pixel")
            b = build_tiny_base(self.tiny_cfg, _vocab(), base_seed, (token,), init_token)
        else:
            b = load_base(base, base_kind, (token,), init_token, image_size)
        self.model = CustomDiffusion360(b, self.cfg)
        self.strict_loading = base != "tiny"  # checkpoints of a hub base hold only the trained delta
        self.register_buffer("base_ready", torch.tensor(base != "tiny"))
        self.register_buffer("alphas_cumprod", _noise_schedule(b), persistent=False)  # ᾱ_t
        self._ref_cache: dict[tuple[int, int, str], dict[str, torch.Tensor]] = {}
        self.metrics = torch.nn.ModuleDict()
        for stage in ("val", "test"):
            self.metrics[f"{stage}_iou"] = BinaryJaccardIndex()
            self.metrics[f"{stage}_psnr"] = PeakSignalNoiseRatio(data_range=1.0)
            for k in ("mse_true", "mse_shifted", "camera_win_rate"):
                self.metrics[f"{stage}_{k}"] = MeanMetric()
        self._extra: dict[str, float] = {}
        self._test_rows: list[dict[str, torch.Tensor]] = []

    @property
    def base(self) -> Base:
        return self.model.base

    # --- the tiny base: pre-trained once on the generic set, cached on disk, frozen --------------------------------
    def setup(self, stage: str) -> None:
        if stage == "fit" and not bool(self.base_ready):
            dm = self.trainer.datamodule if self._trainer is not None else None
            generic = getattr(dm, "generic_dir", None)
            if generic is None:
                raise PaperkitError(
                    "--model.base tiny is pre-trained on the embedded generic set and only fits --data.dataset "
                    "synthetic; for CO3D or your own images use an SDXL base: --config configs/paper.yaml "
                    "(--model.base stabilityai/stable-diffusion-xl-base-1.0 --model.base_kind sdxl)."
                )
            self.load_pretrained_tiny(Path(generic))

    def load_pretrained_tiny(self, generic_dir: Path) -> Path:
        h = self.hparams
        settings = {
            "version": BASE_VERSION,
            "tiny": vars(self.tiny_cfg),
            "steps": h.base_pretrain_steps,
            "batch": h.base_pretrain_batch,
            "lr": h.base_pretrain_lr,
            "seed": h.base_seed,
            "generic": str(generic_dir.name),
        }
        folder = cached_dir(
            Path(h.base_cache).expanduser(), "tiny", settings, lambda d: self._pretrain_tiny(d, generic_dir)
        )
        pre = load_base(folder, "pixel", (h.token,), h.init_token, h.image_size)
        self._copy_base(pre)
        self.base_ready.fill_(True)
        self._base_path = str(folder.resolve())
        self._ref_cache.clear()
        return folder

    def _pretrain_tiny(self, folder: Path, generic_dir: Path) -> None:
        from customdiffusion360.data import load_reg_set

        h = self.hparams
        with isolate_rng():
            base = build_tiny_base(self.tiny_cfg, _vocab(), h.base_seed)
            images, captions = load_reg_set(generic_dir, h.image_size)
            params = [*base.unet.parameters(), *base.text_encoders.parameters()]
            for p in params:
                p.requires_grad_(True)
            opt = torch.optim.AdamW(params, lr=h.base_pretrain_lr, weight_decay=0.0)
            sched = _noise_schedule(base)
            g = torch.Generator().manual_seed(h.base_seed)
            base.train()
            log.info("pre-training the tiny base for %d steps on %d generic images", h.base_pretrain_steps, len(images))
            for step in range(h.base_pretrain_steps):
                idx = torch.randint(len(images), (h.base_pretrain_batch,), generator=g)
                x0 = images[idx] * 2 - 1
                prompts = [captions[i] if float(torch.rand((), generator=g)) > 0.1 else "" for i in idx.tolist()]
                t = torch.randint(0, 1000, (len(idx),), generator=g)
                eps = torch.randn(x0.shape, generator=g)
                a = sched[t].view(-1, 1, 1, 1)
                x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
                text = base.encode_text(prompts, x0.device)
                loss = F.mse_loss(base.unet(x_t, t, encoder_hidden_states=text.context).sample, eps)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if step % 100 == 0 or step == h.base_pretrain_steps - 1:
                    log.info("base pre-training step %d: loss %.4f", step, float(loss.detach()))
            base.eval()
            base.save_pretrained(folder)
            log.info("tiny base written to %s", folder)

    def _copy_base(self, pre: Base) -> None:
        """Load a plain base's weights into the wrapped UNet / text encoders (PoseBlock and token wrappers)."""
        names = [pb.name for pb in self.model.pose_blocks]
        state = {}
        for k, v in pre.unet.state_dict().items():
            for n in names:
                if k.startswith(n + "."):
                    k = n + ".block." + k[len(n) + 1 :]
                    break
            state[k] = v
        missing, unexpected = self.base.unet.load_state_dict(state, strict=False)
        if unexpected or any(".pose_" not in m for m in missing):
            raise RuntimeError(f"base weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for mine, theirs in zip(self.base.text_encoders, pre.text_encoders):
            s = {
                k.replace("token_embedding.weight", "token_embedding.base.weight"): v
                for k, v in theirs.state_dict().items()
                if "new_token_rows" not in k
            }
            mine.load_state_dict(s, strict=False)
        with torch.no_grad():
            for mine, theirs in zip(self.base.token_embeddings, pre.token_embeddings):
                mine.new_token_rows.copy_(theirs.new_token_rows)

    # --- batches -> model inputs --------------------------------------------------------------------------------
    @staticmethod
    def _cams(batch: dict, prefix: str = "") -> Cameras:
        return Cameras(batch[f"{prefix}R"], batch[f"{prefix}T"], batch[f"{prefix}focal"], batch[f"{prefix}pp"])

    def _noise_ref(self, x: torch.Tensor, view: int, t: int) -> torch.Tensor:
        """One fixed noise draw per (view, level): the reference stream is a deterministic function of both."""
        a = self.alphas_cumprod[t]
        g = torch.Generator().manual_seed(1_000_003 * (view + 2) + 7919 * t + self.hparams.base_seed)
        n = torch.randn(x.shape, generator=g).to(x)
        if self.hparams.ref_noise_twice:  # official: the noise is added a second time in the denoiser
            n = n + torch.randn(x.shape, generator=g).to(x)
        return a.sqrt() * x + (1 - a).sqrt() * n

    def reference_features(self, batch: dict) -> dict[str, torch.Tensor]:
        """{block: (B, N, d, h, w)} for the batch's references (memoised while the base is frozen)."""
        views, ts = batch["ref_view"].tolist(), batch["ref_t"].tolist()
        b, n = len(views), len(views[0])
        prompts = batch["ref_prompt"]
        keys = [[(views[i][j], ts[i][j], prompts[i]) for j in range(n)] for i in range(b)]
        use_cache = self.hparams.cache_references and self.cfg.trainkeys == "pose"
        todo = sorted({k for row in keys for k in row if not (use_cache and k in self._ref_cache)})
        fresh: dict[tuple, dict[str, torch.Tensor]] = {}
        if todo:
            where = {k: (i, j) for i in range(b) for j in range(n) for k in [keys[i][j]]}
            xs = []
            for k in todo:
                i, j = where[k]
                x = self.base.to_latent(batch["ref_image"][i, j : j + 1].float())[0] if k[0] >= 0 else None
                if x is None:  # zero-image references (regularisation, the "no reference" branch)
                    xs.append(
                        torch.zeros(
                            self.base.latent_channels, self.base.latent_size, self.base.latent_size, device=self.device
                        )
                    )
                else:
                    xs.append(self._noise_ref(x, k[0], k[1]))
            text = self.base.encode_text([k[2] for k in todo], self.device)
            t = torch.tensor([k[1] for k in todo], device=self.device)
            feats = self.model.reference_features(torch.stack(xs), t, text)
            for m, k in enumerate(todo):
                fresh[k] = {name: f[m] for name, f in feats.items()}
            if use_cache:
                self._ref_cache.update(fresh)
        table = {**self._ref_cache, **fresh} if use_cache else fresh
        return {
            name: torch.stack([torch.stack([table[k][name] for k in row]) for row in keys])
            for name in (pb.name for pb in self.model.pose_blocks)
        }

    def _timesteps(self, b: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(b, generator=generator)
        if self.hparams.timestep_sampler == "cubic":
            return ((1 - u**3) * 999).floor().long().to(self.device)  # ~80 % of t >= 500
        return (u * 1000).floor().clamp(max=999).long().to(self.device)

    def _latent_mask(self, mask: torch.Tensor) -> torch.Tensor:
        s = self.base.latent_size
        m = (F.interpolate(mask.float(), size=(s, s), mode="area") > 0).float() if mask.shape[-1] != s else mask
        return dilate(m, self.hparams.mask_dilation)

    # --- objective ----------------------------------------------------------------------------------------------
    def _denoise(
        self, batch: dict, t: torch.Tensor, eps: torch.Tensor, target: Cameras | None = None, feats: dict | None = None
    ) -> tuple[torch.Tensor, dict[str, NeRFOutput]]:
        x0 = self.base.to_latent(batch["image"].float())
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        text = self.base.encode_text(list(batch["prompt"]), self.device)
        feats = self.reference_features(batch) if feats is None else feats
        target = self._cams(batch) if target is None else target
        return self.model(x_t, t, text, target, self._cams(batch, "ref_"), feats)

    def loss_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        h = self.hparams
        b = batch["image"].shape[0]
        t = self._timesteps(b)
        eps = torch.randn(
            b, self.base.latent_channels, self.base.latent_size, self.base.latent_size, device=self.device
        )
        eps_hat, outs = self._denoise(batch, t, eps)
        l_diff = masked_diffusion_loss(eps_hat, eps, self._latent_mask(batch["mask"])).mean()
        real = (1 - batch["is_reg"]) * batch["has_mask"]  # (B,) rendering losses: real samples with masks
        denom = real.sum().clamp_min(1.0)
        image01 = (batch["image"].float() + 1) / 2
        fg = bg = rgb = torch.zeros((), device=self.device)
        for out in outs.values():
            fg = fg + (silhouette_loss(out, batch["mask"]) * real).sum() / denom
            bg = bg + (background_loss(out, batch["mask"]) * real).sum() / denom
            rgb = rgb + (rgb_loss(out, image01, batch["mask"], h.rgb_full_res_norm) * real).sum() / denom
        k = max(len(outs), 1)
        fg, bg, rgb = fg / k, bg / k, rgb / k
        loss = l_diff + h.lambda_fg * fg + h.lambda_bg * bg + h.lambda_rgb * rgb
        # a batch without V* (regularisation / dropped prompts) in the token-only ablation has no trainable input:
        # keep the trainable rows in the graph (zero gradient) so that the optimiser step is well defined
        loss = loss + sum(0.0 * e.new_token_rows.sum() for e in self.base.token_embeddings)
        return {"loss": loss, "diffusion": l_diff, "silhouette": fg, "background": bg, "rgb": rgb}

    def _shared_step(self, batch: dict, stage: str) -> torch.Tensor:
        terms = self.loss_terms(batch)
        b = batch["image"].shape[0]
        for k, v in terms.items():
            self.log(
                f"{stage}/{k}",
                v,
                on_step=stage == "train",
                on_epoch=True,
                sync_dist=True,
                batch_size=b,
                prog_bar=k == "loss",
            )
        return terms["loss"]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    # --- held-out poses -----------------------------------------------------------------------------------------
    def shifted_camera(self, batch: dict, degrees: float) -> Cameras:
        from customdiffusion360.cameras import rotate_cameras_about_axis

        R, T = rotate_cameras_about_axis(batch["R"], batch["T"], math.radians(degrees), batch["up"])
        return Cameras(R, T, batch["focal"], batch["pp"])

    @torch.no_grad()
    def camera_test(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, dict[str, NeRFOutput]]:
        """Paired masked ε-MSE with the true and the shifted camera, ``eval_draws`` (t, noise) per sample seeded by
        its index: (B, K), (B, K), and the true camera's renderings of the first draw."""
        batch["image"].shape[0]
        mask = self._latent_mask(batch["mask"])
        feats = self.reference_features(batch)
        shifted = self.shifted_camera(batch, self.hparams.shift_deg)
        true_mse, shift_mse, first = [], [], {}
        shape = (self.base.latent_channels, self.base.latent_size, self.base.latent_size)
        for k in range(self.hparams.eval_draws):
            seeds = [int(i) * 1009 + k for i in batch["index"].tolist()]
            eps = per_sample_noise(seeds, shape, self.device)
            t = torch.stack([self._timesteps(1, torch.Generator().manual_seed(s))[0] for s in seeds])
            e_true, outs = self._denoise(batch, t, eps, feats=feats)
            e_shift, _ = self._denoise(batch, t, eps, target=shifted, feats=feats)
            true_mse.append(masked_diffusion_loss(e_true, eps, mask))
            shift_mse.append(masked_diffusion_loss(e_shift, eps, mask))
            first = first or outs
        return torch.stack(true_mse, 1), torch.stack(shift_mse, 1), first

    def _eval_step(self, batch: dict, stage: str) -> None:
        mse_t, mse_s, outs = self.camera_test(batch)
        b = mse_t.shape[0]
        m = self.metrics
        m[f"{stage}_mse_true"].update(mse_t.mean(1))
        m[f"{stage}_mse_shifted"].update(mse_s.mean(1))
        m[f"{stage}_camera_win_rate"].update((mse_t < mse_s).float().flatten())
        image01 = (batch["image"].float() + 1) / 2
        for out in outs.values():
            s = round(out.opacity.shape[1] ** 0.5)
            mask = downsample_mask(batch["mask"], s) > 0.5
            m[f"{stage}_iou"].update((out.opacity > 0.5).flatten(), mask.flatten().long())
            img = F.adaptive_avg_pool2d(image01, s).flatten(2).transpose(1, 2)  # (B, P, 3)
            comp = out.rgb + (1 - out.opacity.clamp(0, 1)).unsqueeze(-1)  # composited on white
            m[f"{stage}_psnr"].update(comp.clamp(0, 1), img)
        for k in ("mse_true", "mse_shifted", "camera_win_rate", *(("iou", "psnr") if outs else ())):
            self.log(f"{stage}/{k}", m[f"{stage}_{k}"], on_step=False, on_epoch=True, batch_size=b)
        if stage == "test":
            self._test_rows.append({"index": batch["index"].cpu(), "mse_true": mse_t.cpu(), "mse_shifted": mse_s.cpu()})

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")
        self._test_samples.append(
            {
                "samples": self.predict_outputs(batch)["image"].cpu(),
                "image": batch["image"].cpu(),
                "mask": batch["mask"].cpu(),
                "azimuth": batch["azimuth"].cpu(),
            }
        )

    def on_test_epoch_start(self) -> None:
        self._test_rows, self._test_samples, self._extra = [], [], {}

    def on_test_epoch_end(self) -> None:
        folder = run_dir(self.trainer)
        if not self.trainer.is_global_zero or not self._test_samples:
            return
        from customdiffusion360.report import face_accuracy, save_sample_grid

        samples = torch.cat([s["samples"] for s in self._test_samples])
        images = torch.cat([s["image"] for s in self._test_samples])
        masks = torch.cat([s["mask"] for s in self._test_samples])
        az = torch.cat([s["azimuth"] for s in self._test_samples])
        order = az.argsort()
        save_sample_grid(images[order], samples[order], az[order], folder / "samples_azimuth.png")
        dm = self.trainer.datamodule
        if getattr(dm, "hparams", {}).get("dataset") == "synthetic":
            acc, dom = face_accuracy(samples, images, masks)
            self._extra = {"test/face_acc": acc, "test/dominant_face_acc": dom}
        if self.hparams.alignment:  # real runs: CLIP text alignment and DINO image alignment
            from customdiffusion360.alignment import Alignment

            al = Alignment(self.hparams.clip_model, self.hparams.dino_model, self.device)
            prompts = [
                p.replace(self.hparams.token, "").replace("  ", " ") for s in self._test_samples for p in s["prompt"]
            ]
            self._extra["test/clip_text"] = float(al.clip_text(samples, prompts).mean())
            self._extra["test/dino_image"] = float(al.dino_image(samples, (images + 1) / 2).mean())
        rows = self._test_rows
        if rows:
            t, s = (
                torch.cat([r["mse_true"] for r in rows]).flatten(),
                torch.cat([r["mse_shifted"] for r in rows]).flatten(),
            )
            self._extra["test/camera_cases"] = float(t.numel())
            self._extra["test/camera_gain"] = float((s - t).mean())

    def extra_test_metrics(self) -> dict[str, float]:
        return dict(self._extra)

    # --- inference ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_outputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """Samples at the batch's target cameras (three-way guidance, DDIM), noise seeded by each sample's index."""
        b = batch["R"].shape[0]
        feats = self.reference_features(batch)
        null = dict(batch, ref_view=torch.full_like(batch["ref_view"], -1), ref_prompt=[""] * b)
        null_feats = self.reference_features(null)
        text = self.base.encode_text(list(batch["prompt"]), self.device)
        null_text = self.base.encode_text([""] * b, self.device)
        shape = (self.base.latent_channels, self.base.latent_size, self.base.latent_size)
        seeds = [self.hparams.sample_seed * 7_777_777 + int(i) for i in batch["index"].tolist()]
        noise = per_sample_noise(seeds, shape, self.device)
        z = guided_sample(
            self.model,
            text,
            null_text,
            self._cams(batch),
            self._cams(batch, "ref_"),
            feats,
            null_feats,
            noise,
            self.hparams.sample_steps,
            self.hparams.guidance_text,
            self.hparams.guidance_image,
        )
        return {"image": (self.base.from_latent(z) + 1) / 2}  # (B, 3, H, W) in [0, 1]

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict[str, Any]]:
        from customdiffusion360.report import save_png

        images = self.predict_outputs(batch)["image"]
        folder = run_dir(self.trainer) / "predictions"
        rows = []
        described = getattr(self.trainer.datamodule, "predict_rows", None)
        for k, (i, img) in enumerate(zip(batch["index"].tolist(), images)):
            path = save_png(img, folder / f"{i:04d}.png")
            desc = described[i] if described is not None else {}
            rows.append({"id": i, "prompt": batch["prompt"][k], **desc, "image": str(path.resolve())})
        return rows

    # --- the delta file -----------------------------------------------------------------------------------------
    def on_fit_end(self) -> None:
        folder = run_dir(self.trainer)
        dm = self.trainer.datamodule
        if not self.trainer.is_global_zero or dm is None or not hasattr(dm, "reference_views"):
            return
        base_path = getattr(self, "_base_path", None) or self.hparams.base
        meta = {
            "base_path": base_path,
            "prompt": dm.prompt,
            "ref_prompt": dm.ref_prompt,
            "ref_t": int(dm.grid[dm.hparams.ref_eval_level]),
            "n_refs": dm.hparams.n_refs,
            "image_size": self.hparams.image_size,
            "hparams": {k: v for k, v in self.hparams.items() if isinstance(v, int | float | str | bool)},
        }
        path = save_delta(self.model, folder / "delta.safetensors", meta, dm.reference_views())
        log.info("trained delta (%d tensors) written to %s", len(self.model.delta_state_dict()), path)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.hparams.base != "tiny":  # a hub base is not copied into every checkpoint
            keep = {f"model.{k}" for k in self.model.delta_state_dict()} | {"base_ready"}
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if k in keep or k.startswith("metrics.")
            }

    def configure_optimizers(self) -> torch.optim.Optimizer:
        pose, attn = [], []
        for n, p in self.model.named_parameters():
            if p.requires_grad:
                (attn if ".block.attn" in n else pose).append(p)
        groups = [{"params": pose}]
        if attn:
            lr = self.optimizer([torch.nn.Parameter(torch.zeros(1))]).defaults["lr"]
            groups.append({"params": attn, "lr": lr * self.hparams.attn_lr_scale})
        return self.optimizer(groups)


def _noise_schedule(base: Base) -> torch.Tensor:
    """ᾱ_t of the base's DDPM schedule (1000 steps, scaled-linear β 0.00085-0.012)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(base.scheduler_config).alphas_cumprod.float()


def _vocab() -> list[str]:
    from customdiffusion360.datasets.synthetic import VOCAB

    return VOCAB
