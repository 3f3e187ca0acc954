"""LightningModule for CRMT (paper Sec. 4.2, Algorithm 1): step 1 and step 2 as two stages of one ``fit``.

* Epochs ``[0, step1_epochs)``: step 1, every parameter, loss Eq. 12 (``CE + ρ · log Σ exp(−uni-modal margin)``) on
  clean inputs (CRMT-JT), adversarial inputs (CRMT-AT: 5-step ℓ2 attack on CE, joint normalisation, ℓ2 projection;
  ``at_projection=box`` = the official elementwise clip to ±2ε) or mixup inputs (CRMT-Mix, corrected margin term).
  ``fusion=concat, rho=0, step2_epochs=0`` is plain joint training (JT).
* At the switch: τ̂ (per-modality, per-class Lipschitz constants of the uni-modal logits) is estimated once on the
  training split and stored in a buffer (so a resume in step 2 uses the same τ̂).
* Epochs ``[step1_epochs, step1_epochs + step2_epochs)``: step 2, encoders (BN in eval mode), W̃ and b frozen; only
  ``a`` is trained by its own SGD optimiser to maximise the mean certified radius (Eq. 10), projected to ``a ≥ a_min``.
* MSEFM (the paper's baseline, our reading of Tian & Xu 2021: "MinSim + ExFMem"): ``sim_weight > 0`` adds
  ``sim_weight · mean cos(f¹, f²)`` of the two modalities' features to the loss (MinSim); ``memory_epochs > 0`` fills
  a feature memory of ``memory_size`` clean training features per modality at epoch ``step1_epochs`` and trains
  ``memory_epochs`` more epochs with every feature sparse-coded on it (ExFMem, :class:`crmt.model.FeatureMemory`).

Manual optimisation with two optimisers (both in every checkpoint), so ``fit --ckpt_path last`` resumes exactly in
either stage. ``test`` runs the full robustness evaluation (:mod:`crmt.evaluate`) and saves ``robustness.png``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pytorch_lightning.cli import OptimizerCallable
from pytorch_lightning.utilities.seed import isolate_rng
from torch import Tensor

from crmt.attacks import l2_attack
from crmt.certify import crmt_radius, estimate_lipschitz, jt_radius, mixup_margin_regularizer, step1_loss
from crmt.evaluate import AttackConfig, RobustnessEvaluator
from crmt.model import EncoderKind, MultiModalNet, build_encoder
from paperkit.errors import PaperkitError
from paperkit.report import save_line_plot
from paperkit.runs import run_dir

__all__ = ["CRMTModule"]

log = logging.getLogger(__name__)


def _step1_sgd(params: Iterable) -> torch.optim.Optimizer:
    """Step 1 (every parameter): SGD lr 0.01, momentum 0.9, weight decay 1e-4."""
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)


def _step2_sgd(params: Iterable) -> torch.optim.Optimizer:
    """Step 2 (only ``a``): SGD lr 0.05, momentum 0.9, weight decay 1e-2 (the official choices)."""
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-2)


class CRMTModule(pl.LightningModule):
    """Joint multi-modal classifier trained with CRMT (or JT). Batches are ``([x¹, x²], y)``."""

    def __init__(
        self,
        n_classes: int = 4,
        modality_names: list[str] | None = None,
        in_sizes: list[int] | None = None,
        encoder_kinds: list[EncoderKind] | None = None,
        encoder: EncoderKind | None = None,
        hidden: int = 64,
        embed_dim: int = 32,
        fusion: Literal["crmt", "concat"] = "crmt",
        orth: Literal["rownorm", "full"] = "rownorm",
        a_init: float = 1.0,
        rho: float = 2.0,
        margin_eps: float = 1e-5,
        train_input: Literal["clean", "adversarial", "mixup"] = "clean",
        at_eps: float = 0.1,
        at_steps: int = 5,
        at_projection: Literal["l2", "box"] = "l2",
        mixup_alpha: float = 1.0,
        sim_weight: float = 0.0,
        memory_size: int = 0,
        memory_epochs: int = 0,
        memory_lambda: float = 0.1,
        memory_mix: float = 0.5,
        memory_iters: int = 20,
        memory_seed: int = 0,
        step1_epochs: int = 20,
        step2_epochs: int = 10,
        optimizer: OptimizerCallable = _step1_sgd,
        lr_step_size: int | None = None,
        lr_gamma: float = 0.1,
        step2_optimizer: OptimizerCallable = _step2_sgd,
        step2_j: Literal["min", "runner_up"] = "min",
        a_min: float = 1e-3,
        lip_chunk: int | None = None,
        eval_eps: float = 0.5,
        eval_eps_uni: list[float] | None = None,
        pgd_steps: int = 10,
        pgd_step_size: float = 0.25,
        cert_radii: list[float] | None = None,
        curve_radii: list[float] | None = None,
        eval_curve: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.optimizer, self.step2_optimizer = optimizer, step2_optimizer
        self.automatic_optimization = False
        names = list(modality_names or ["A", "B"])
        sizes = list(in_sizes or [16] * len(names))
        kinds = [encoder] * len(names) if encoder else list(encoder_kinds or ["mlp"] * len(names))
        if fusion == "concat" and step2_epochs > 0:
            raise ValueError("step 2 trains the CRMT weights a; JT (fusion=concat) needs step2_epochs=0")
        if memory_epochs > 0 and (memory_size <= 0 or step2_epochs > 0):
            raise ValueError("the feature-memory stage (memory_epochs > 0) needs memory_size > 0 and step2_epochs=0")
        if sim_weight > 0 and (len(modality_names or ["A", "B"]) != 2 or train_input != "clean"):
            raise ValueError("the MinSim term (sim_weight > 0) needs two modalities and train_input=clean")
        self.names = names
        self.net = MultiModalNet(
            [build_encoder(k, s, hidden, embed_dim) for k, s in zip(kinds, sizes)],
            n_classes,
            fusion=fusion,
            orth=orth,
            a_init=a_init,
            memory_size=memory_size if memory_epochs > 0 else 0,
            memory_lambda=memory_lambda,
            memory_mix=memory_mix,
            memory_iters=memory_iters,
        )
        m = len(names)
        self.register_buffer("lip", torch.zeros(m, n_classes))  # τ̂ (M, k)
        self.register_buffer("lip_pair", torch.zeros(m, n_classes, n_classes))  # τ̂ of o_y − o_j (JT bound)
        self.register_buffer("lip_ready", torch.zeros((), dtype=torch.bool))
        self.attack_cfg = AttackConfig(
            eps_joint=eval_eps,
            eps_uni=tuple(eval_eps_uni or [eval_eps] * m),
            pgd_steps=pgd_steps,
            pgd_step_size=pgd_step_size,
            cert_radii=tuple(cert_radii or [0.1, 0.2, 0.3, 0.5, 1.0]),
            curve_radii=tuple(curve_radii or [0.1, 0.25, 0.5, 1.0, 1.5]),
            curve=eval_curve,
        )
        self._evaluator: RobustnessEvaluator | None = None

    # --- basics ------------------------------------------------------------------------------------------------------
    def forward(self, xs: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        return self.net(xs)

    @property
    def is_crmt(self) -> bool:
        return self.net.fusion == "crmt"

    def in_step2(self) -> bool:
        return self.is_crmt and self.hparams.step2_epochs > 0 and self.current_epoch >= self.hparams.step1_epochs

    def in_memory_stage(self) -> bool:
        return self.hparams.memory_epochs > 0 and self.current_epoch >= self.hparams.step1_epochs

    @property
    def memory_ready(self) -> bool:
        return self.net.memories is not None and all(bool(mem.ready) for mem in self.net.memories)

    @torch.no_grad()
    def fill_memory(self) -> None:
        """MSEFM's external feature memory: ``memory_size`` clean training features per modality (eval mode, eval
        transforms, the same seeded samples on every rank), RNG-neutral."""
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None or not hasattr(dm, "memory_dataloader"):
            raise RuntimeError("filling the feature memory needs the CRMTDataModule (its training split)")
        was_training = self.net.training
        self.net.eval()
        with isolate_rng():
            feats: list[list[Tensor]] = [[] for _ in self.names]
            for xs, _ in dm.memory_dataloader(self.hparams.memory_size, self.hparams.memory_seed):
                for m, f in enumerate(self.net.encode([x.to(self.device) for x in xs])):
                    feats[m].append(f)
        for mem, fs in zip(self.net.memories, feats):
            mem.fill(torch.cat(fs))
        self.net.train(was_training)
        log.info("feature memory filled: %d training features per modality", self.hparams.memory_size)

    def _clamp_a(self) -> None:
        if self.is_crmt:
            with torch.no_grad():
                self.net.head.a.clamp_(min=self.hparams.a_min)

    # --- step 1 ------------------------------------------------------------------------------------------------------
    def compute_step1_loss(self, xs: list[Tensor], y: Tensor) -> tuple[Tensor, Tensor]:
        """Eq. 12 on the configured step-1 input; returns (loss, fused logits)."""
        hp = self.hparams
        if hp.train_input == "adversarial":
            # model stays in train mode (official); ε = at_eps, step ε/steps, CE, joint normalisation
            box = 2.0 if hp.at_projection == "box" else None
            xs = l2_attack(self.net, xs, y, hp.at_eps, None, hp.at_steps, 1.0 / hp.at_steps, "ce", None, box=box)
        if hp.train_input == "mixup":
            lam = float(torch.distributions.Beta(hp.mixup_alpha, hp.mixup_alpha).sample())
            perm = torch.randperm(y.shape[0], device=y.device)
            xs = [lam * x + (1 - lam) * x[perm] for x in xs]
            h, outs = self.net(xs)
            loss = lam * F.cross_entropy(h, y) + (1 - lam) * F.cross_entropy(h, y[perm])
            if hp.rho > 0:
                loss = loss + hp.rho * mixup_margin_regularizer(outs, y, y[perm], lam, hp.margin_eps).mean()
            return loss, h
        if hp.sim_weight > 0:  # MinSim: CE (+ margin term) + w · mean cos(f¹, f²) of the features the head sees
            feats = self.net.features(xs)
            h, outs = self.net.head(feats)
            sim = F.cosine_similarity(feats[0], feats[1], dim=1).mean()
            return step1_loss(h, outs, y, hp.rho, hp.margin_eps) + hp.sim_weight * sim, h
        h, outs = self.net(xs)
        return step1_loss(h, outs, y, hp.rho, hp.margin_eps), h

    # --- step 2 ------------------------------------------------------------------------------------------------------
    def compute_step2_loss(self, xs: list[Tensor], y: Tensor) -> tuple[Tensor, Tensor]:
        """−mean certified radius (Eq. 10) with encoders, W̃ and b frozen: only ``a`` gets a gradient."""
        head = self.net.head
        with torch.no_grad():
            feats = self.net.features(xs)
            outs = [f @ head.normalized_weight(m).T for m, f in enumerate(feats)]  # M x (B, k)
        h = sum(head.a[m] * o for m, o in enumerate(outs)) + head.bias.detach()  # (B, k)
        r = crmt_radius(h, head.a, self.lip, y, None, self.hparams.step2_j)
        return -r.mean(), h

    def compute_lipschitz(self) -> None:
        """Estimate τ̂ on the training split (eval transforms, eval mode), RNG-neutral, max-reduced over ranks."""
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None or not hasattr(dm, "lipschitz_dataloader"):
            raise RuntimeError("estimating the Lipschitz constants needs the CRMTDataModule (its training split)")
        with isolate_rng(), torch.inference_mode(False):
            self._compute_lipschitz(dm)

    def _compute_lipschitz(self, dm: pl.LightningDataModule) -> None:
        was_training = self.net.training
        self.net.eval()
        loader = dm.lipschitz_dataloader(self.global_rank, self.trainer.world_size)
        batches = ([x.to(self.device) for x in xs] for xs, _ in loader)
        chunk = None if self.is_crmt else self.hparams.lip_chunk  # chunks only bound JT's per-sample gradient memory
        per_class, pair = estimate_lipschitz(
            self.net, batches, self.net.n_classes, pairwise=not self.is_crmt, chunk=chunk
        )
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(per_class, op=dist.ReduceOp.MAX)
            if pair is not None:
                dist.all_reduce(pair, op=dist.ReduceOp.MAX)
        self.lip.copy_(per_class)
        if pair is not None:
            self.lip_pair.copy_(pair)
        self.lip_ready.fill_(True)
        self.net.train(was_training)
        log.info("Lipschitz estimates τ̂ (modality x class): %s", per_class.cpu().numpy().round(3).tolist())

    def _pairwise_lipschitz(self, dm: pl.LightningDataModule) -> None:
        """``lip_pair`` of a CRMT head: constants of ``a_y^m o_y^m − a_j^m o_j^m`` on the training split."""
        was_training = self.net.training
        self.net.eval()
        loader = dm.lipschitz_dataloader(self.global_rank, self.trainer.world_size)
        batches = ([x.to(self.device) for x in xs] for xs, _ in loader)
        _, pair = estimate_lipschitz(self.net, batches, self.net.n_classes, pairwise=True,
                                     chunk=self.hparams.lip_chunk, class_weights=self.net.head.a.detach())  # fmt: skip
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(pair, op=dist.ReduceOp.MAX)
        self.lip_pair.copy_(pair)
        self.net.train(was_training)

    # --- training loop -----------------------------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        if self.in_memory_stage() and not self.memory_ready:
            self.fill_memory()
        if self.in_step2():
            if not bool(self.lip_ready):
                self.compute_lipschitz()
            self.net.eval()  # BN statistics frozen in step 2 (the official code kept updating them)

    def loss_terms(self, batch: tuple[list[Tensor], Tensor]) -> dict[str, Tensor]:
        """The objective of the current stage: Eq. 12 in step 1, minus the mean certified radius (Eq. 10) in step 2."""
        xs, y = batch
        loss, _ = self.compute_step2_loss(xs, y) if self.in_step2() else self.compute_step1_loss(xs, y)
        return {"loss": loss}

    def predict_outputs(self, batch: tuple[list[Tensor], Tensor]) -> Tensor:
        """Class probabilities per sample (B, k)."""
        h, _ = self.net(batch[0])
        return h.softmax(-1)

    def training_step(self, batch: tuple[list[Tensor], Tensor], batch_idx: int) -> Tensor:
        xs, y = batch
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        if self.in_step2():
            opt = opts[1]
            loss, h = self.compute_step2_loss(xs, y)
            opt.zero_grad()
            (grad,) = torch.autograd.grad(loss, [self.net.head.a])
            if dist.is_available() and dist.is_initialized():  # average by hand: DDP's reducer expects all params
                dist.all_reduce(grad)
                grad /= dist.get_world_size()
            self.net.head.a.grad = grad
            opt.step()
            self.log("train/radius", -loss.detach(), on_step=False, on_epoch=True, sync_dist=True)
        else:
            opt = opts[0]
            loss, h = self.compute_step1_loss(xs, y)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
        self._clamp_a()
        acc = (h.argmax(1) == y).float().mean()
        self.log("train/loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.log("train/acc", acc, on_step=False, on_epoch=True, sync_dist=True)
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        sched = self.lr_schedulers()
        if sched is not None and not self.in_step2():
            sched.step()
        if self.is_crmt:
            for m, name in enumerate(self.names):
                self.log(f"train/a_{name}", self.net.head.a[m].mean().detach(), sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        """A model without step 2 (JT, OJT, CRMT step 1 only) gets its τ̂ at the last epoch's validation, before that
        epoch's checkpoint is written, so ``last.ckpt`` carries it and ``predict`` can certify with it (``test``
        reuses it: the same weights, RNG-neutral estimate)."""
        trainer = self.trainer
        end = self.schedule_epochs if self.schedule_epochs is not None else trainer.max_epochs
        last = end is not None and self.current_epoch == end - 1
        if last and not trainer.sanity_checking and not self.has_step2 and not bool(self.lip_ready):
            self.compute_lipschitz()

    def validation_step(self, batch: tuple[list[Tensor], Tensor], batch_idx: int) -> None:
        xs, y = batch
        h, _ = self.net(xs)
        self.log("val/loss", F.cross_entropy(h, y), on_epoch=True, sync_dist=True)
        self.log("val/acc", (h.argmax(1) == y).float().mean(), on_epoch=True, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        hp = self.hparams
        opt1 = self.optimizer(self.net.parameters())
        opts = [opt1]
        if self.is_crmt:
            opts.append(self.step2_optimizer([self.net.head.a]))
        scheds = [torch.optim.lr_scheduler.StepLR(opt1, hp.lr_step_size, hp.lr_gamma)] if hp.lr_step_size else []
        return opts, scheds

    def predict_step(self, batch: tuple[list[Tensor], Tensor], batch_idx: int) -> list[dict[str, object]]:
        """One row per sample: index, the input (raw clips: its file and folder), predicted class, class
        probabilities and the certified radius of the prediction under the checkpoint's Lipschitz estimates τ̂
        (Eq. 10 for CRMT; JT's pairwise bound when the checkpoint holds its pairwise τ̂, else no radius)."""
        xs, index = batch
        h, _ = self.net(xs)
        probs = h.softmax(-1)
        pred = h.argmax(-1)
        radius = None
        if bool(self.lip_ready) and self.is_crmt:
            radius = crmt_radius(h, self.net.head.a, self.lip, pred, None, self.hparams.step2_j)
        elif bool(self.lip_ready) and bool(self.lip_pair.abs().sum() > 0):
            radius = jt_radius(h, self.lip_pair, pred)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        names = getattr(dm, "predict_names", None)
        rows = []
        for n, i in enumerate(index.tolist()):
            row: dict[str, object] = {"id": int(i)}
            if names is not None:
                row["input"] = names[int(i)]
            row["predicted"] = int(pred[n])
            row.update({f"p_{k}": f"{float(v):.6f}" for k, v in enumerate(probs[n])})
            if radius is not None:
                row["certified_radius"] = f"{float(radius[n]):.6f}"
            rows.append(row)
        return rows

    # --- the two-step schedule ---------------------------------------------------------------------------------------
    @property
    def has_step2(self) -> bool:
        return self.is_crmt and self.hparams.step2_epochs > 0

    @property
    def schedule_epochs(self) -> int | None:
        """Epochs of the two-stage schedule: step 1 + step 2 of a CRMT model with a step 2, step 1 + the
        feature-memory stage of MSEFM; None (no guard) for single-stage models."""
        hp = self.hparams
        if self.has_step2:
            return hp.step1_epochs + hp.step2_epochs
        if hp.memory_epochs > 0:
            return hp.step1_epochs + hp.memory_epochs
        return None

    def on_fit_start(self) -> None:
        """``trainer.max_epochs`` must fit the schedule: more epochs than step 1 + step 2 is an error (step 2 would
        silently run longer than configured); fewer is a partial run (warned: it can be resumed with ``--ckpt_path
        last``, and ``test`` refuses it while step 2 has not run)."""
        total, max_epochs = self.schedule_epochs, self.trainer.max_epochs
        if total is None:
            return
        hp = self.hparams
        stage, stage_key = ("step 2", "step2_epochs") if self.has_step2 else ("the feature-memory stage",
                                                                              "memory_epochs")  # fmt: skip
        if max_epochs is None or max_epochs < 0 or max_epochs > total:
            raise PaperkitError(
                f"crmt: trainer.max_epochs={max_epochs} does not fit the two-stage schedule, model.step1_epochs="
                f"{hp.step1_epochs} + model.{stage_key}={hp[stage_key]} = {total} epochs. Set "
                f"--trainer.max_epochs={total}, or change the stage epochs ({stage} starts after step1_epochs epochs)."
            )
        if max_epochs < total:
            log.warning(
                "crmt: a partial run (%d of the schedule's %d epochs; %s starts after %d): resume it with "
                "--trainer.max_epochs=%d --ckpt_path last; `test` refuses the model until %s has run",
                max_epochs, total, stage, hp.step1_epochs, total, stage,
            )  # fmt: skip

    # --- test: the full robustness evaluation ------------------------------------------------------------------------
    def on_test_start(self) -> None:
        if self.hparams.memory_epochs > 0 and not self.memory_ready:
            raise PaperkitError(
                f"crmt: this checkpoint stopped before its feature-memory stage (the schedule has "
                f"{self.hparams.step1_epochs} epochs, then {self.hparams.memory_epochs} with the memory), so it is not "
                "an MSEFM model and is not tested as one. Resume it with `crmt fit --ckpt_path last` and the "
                "schedule's max_epochs."
            )
        if self.has_step2 and not bool(self.lip_ready):
            raise PaperkitError(
                f"crmt: this checkpoint stopped before step 2 (the schedule has {self.hparams.step1_epochs} step-1 "
                f"epochs, then {self.hparams.step2_epochs} step-2 epochs), so it is not a CRMT model and is not "
                "tested as one. Resume it with `crmt fit --ckpt_path last` and the schedule's max_epochs, or test a "
                "CRMT step-1-only model with --model.step2_epochs=0."
            )
        if not bool(self.lip_ready):
            self.compute_lipschitz()
        if self.is_crmt:  # the tight pairwise bound of the trained CRMT head (a after step 2), for cert_pairwise_*
            dm = getattr(self.trainer, "datamodule", None)
            if dm is not None and hasattr(dm, "lipschitz_dataloader"):
                with isolate_rng(), torch.inference_mode(False):
                    self._pairwise_lipschitz(dm)
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "input_bounds"):
            self.attack_cfg.bounds = dm.input_bounds()
        self._evaluator = RobustnessEvaluator(self.net, self.names, self.attack_cfg)

    def test_step(self, batch: tuple[list[Tensor], Tensor], batch_idx: int) -> None:
        with torch.inference_mode(False):
            xs, y = batch
            xs, y = [x.clone() for x in xs], y.clone()  # normal tensors: the attacks need autograd
            self._evaluator.update(xs, y, self.lip, self.lip_pair)

    def on_test_epoch_end(self) -> None:
        ev = self._evaluator
        keys = sorted(ev.counts)
        counts = torch.tensor([ev.counts[k] for k in keys], dtype=torch.float64, device=self.device)
        radii = torch.cat(ev.radii).to(self.device) if ev.radii else torch.zeros(0, device=self.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
            radii = self.all_gather(radii).flatten()
        total = dict(zip(keys, counts.tolist()))
        results = ev.results(total, radii.cpu())
        if self.is_crmt:
            for m, name in enumerate(self.names):
                results[f"a_mean_{name}"] = float(self.net.head.a[m].mean())
        for m, name in enumerate(self.names):
            results[f"lip_max_{name}"] = float(self.lip[m].max())
        for k, v in results.items():
            self.log(f"test/{k}", float(v), sync_dist=True)
        folder = run_dir(self.trainer)  # on every rank: trainer.log_dir is a collective (broadcast) under DDP
        if self.trainer.is_global_zero:
            xs, curves = ev.curves(total)
            bound = "CRMT" if self.is_crmt else "JT"
            save_line_plot(
                xs,
                curves,
                folder / "robustness.png",
                "ℓ2 radius",
                "accuracy",
                title=f"certified ({bound} bound) and PGD accuracy vs radius",
            )
