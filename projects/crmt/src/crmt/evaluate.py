"""Robustness evaluation of CRMT (paper Sec. 5.1-5.3, Tables 1-2, Fig. 5; official ``rob_test.py`` attacks).

Per test batch, :class:`RobustnessEvaluator` counts

* clean accuracy and missing-modality accuracy (the missing input is filled with zeros, an assumption: the paper does
  not say how a modality is removed);
* FGM and ℓ2-PGD on both modalities (joint ε) and on each modality alone (its own ε), each with the CE and the CW
  margin loss; the headline number is the per-sample worst case of the two losses (robust only if both fail);
* certified accuracy (``correct and r(x) ≥ ρ``) from the JT bound (``concat`` head) or the CRMT bound (Eq. 10), for
  the joint ℓ2 ball and for each modality alone;
* among samples certified at the attack's ε (``cert_flipped_*``) and, pooled over the curve radii, among the
  (sample, radius) pairs certified at that radius (``cert_flipped_curve_*``, ``cert_pairs_*`` pairs), the fraction
  that PGD flips (0 when τ is exact; with an estimated τ̂ a non-zero value shows the estimate is too small);
* ``cert_triangle_*``: certified accuracy from the per-class (triangle-inequality) bound, i.e. the CRMT bound with
  ``a = 1`` for JT (identical to ``cert_*`` for CRMT);
* ``cert_pairwise_*``: certified accuracy from the tight pairwise bound (the JT bound: Lipschitz constants of each
  modality's contribution to the fused margin ``h_y − h_j``), for JT (identical to ``cert_*``) and for CRMT heads
  (constants of ``a_y^m o_y^m − a_j^m o_j^m``, estimated after step 2), so both bounds compare every model alike;
* PGD accuracy at every radius of ``curve_radii`` (the robustness-vs-radius figure).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from crmt.attacks import l2_attack
from crmt.certify import crmt_radius, jt_radius

__all__ = ["AttackConfig", "RobustnessEvaluator"]


@dataclass
class AttackConfig:
    """Budgets and PGD schedule. ``eps_uni[m]`` is the budget when modality m alone is attacked."""

    eps_joint: float = 0.5
    eps_uni: Sequence[float] = (0.5, 1.0)
    pgd_steps: int = 10
    pgd_step_size: float = 0.25  # fraction of ε per step (ours: 2.5ε/10 steps; official: ε/3 with 4 steps)
    cert_radii: Sequence[float] = (0.1, 0.2, 0.3, 0.5, 1.0)
    curve_radii: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 1.5)
    losses: Sequence[str] = ("ce", "cw")
    bounds: Sequence[tuple[Tensor, Tensor] | None] | None = None
    curve: bool = True


class RobustnessEvaluator:
    """Accumulates counts over batches; :meth:`results` turns them into fractions keyed ``<metric>``."""

    def __init__(self, net: torch.nn.Module, names: Sequence[str], cfg: AttackConfig) -> None:
        self.net, self.names, self.cfg = net, list(names), cfg
        self.counts: dict[str, float] = defaultdict(float)
        self.radii: list[Tensor] = []

    def settings(self) -> list[tuple[str, list[int] | None, float]]:
        """(name, attacked modalities, ε) for the joint attack and each uni-modal attack."""
        out: list[tuple[str, list[int] | None, float]] = [("both", None, self.cfg.eps_joint)]
        out += [(n, [m], float(self.cfg.eps_uni[m])) for m, n in enumerate(self.names)]
        return out

    def radius(self, h: Tensor, y: Tensor, attacked: list[int] | None, lip: Tensor, lip_pair: Tensor) -> Tensor:
        head = self.net.head
        if self.net.fusion == "concat":
            return jt_radius(h, lip_pair, y, attacked)
        return crmt_radius(h, head.a.detach(), lip, y, attacked)

    def _bounds(self, xs: Sequence[Tensor]) -> list[tuple[Tensor, Tensor] | None] | None:
        if self.cfg.bounds is None:
            return None
        return [None if b is None else (b[0].to(x), b[1].to(x)) for b, x in zip(self.cfg.bounds, xs)]

    def _robust(
        self, xs: list[Tensor], y: Tensor, attacked: list[int] | None, eps: float, steps: int, step_size: float
    ) -> dict[str, Tensor]:
        """Per-loss correctness under the attack plus the per-sample worst case (key 'worst')."""
        out = {}
        bounds = self._bounds(xs)
        for loss in self.cfg.losses:
            adv = l2_attack(self.net, xs, y, eps, attacked, steps, step_size, loss, bounds)
            with torch.no_grad():
                out[loss] = self.net(adv)[0].argmax(1) == y
        out["worst"] = torch.stack([out[lo] for lo in self.cfg.losses]).all(0)
        return out

    @torch.enable_grad()
    def update(self, xs: list[Tensor], y: Tensor, lip: Tensor, lip_pair: Tensor) -> None:
        c = self.counts
        n = float(y.shape[0])
        c["n"] += n
        with torch.no_grad():
            h, _ = self.net(xs)
            correct = h.argmax(1) == y
            c["acc"] += correct.sum().item()
            for m, name in enumerate(self.names):
                missing = [torch.zeros_like(x) if i == m else x for i, x in enumerate(xs)]
                c[f"missing_{name}"] += (self.net(missing)[0].argmax(1) == y).sum().item()
            radii = {}
            for sname, attacked, _ in self.settings():
                r = self.radius(h, y, attacked, lip, lip_pair)
                radii[sname] = r
                tag = "" if sname == "both" else f"{sname}_"
                for rad in sorted({*self.cfg.cert_radii, *self.cfg.curve_radii}):
                    c[f"cert_{tag}{rad:g}"] += ((r >= rad) & correct).sum().item()
            if self.net.fusion == "concat":
                # the looser per-class (triangle-inequality) form of the JT bound: the CRMT bound with a = 1
                r_tri = crmt_radius(h, torch.ones_like(lip), lip, y)
            else:
                r_tri = radii["both"]
            r_pair = jt_radius(h, lip_pair, y) if bool((lip_pair > 0).any()) else None
            for rad in self.cfg.cert_radii:
                c[f"cert_triangle_{rad:g}"] += ((r_tri >= rad) & correct).sum().item()
                if r_pair is not None:
                    c[f"cert_pairwise_{rad:g}"] += ((r_pair >= rad) & correct).sum().item()
            self.radii.append(torch.where(correct, radii["both"], torch.zeros_like(radii["both"])).cpu())
        for sname, attacked, eps in self.settings():
            fgm = self._robust(xs, y, attacked, eps, 1, 1.0)
            pgd = self._robust(xs, y, attacked, eps, self.cfg.pgd_steps, self.cfg.pgd_step_size)
            for attack, res in (("fgm", fgm), ("pgd", pgd)):
                c[f"{attack}_{sname}"] += res["worst"].sum().item()
                for loss in self.cfg.losses:
                    c[f"{attack}_{sname}_{loss}"] += res[loss].sum().item()
            certified = (radii[sname] >= eps) & correct
            c[f"_certified_{sname}"] += certified.sum().item()
            c[f"_certflip_{sname}"] += (certified & ~pgd["worst"]).sum().item()
            if self.cfg.curve:
                for rad in self.cfg.curve_radii:
                    res = self._robust(xs, y, attacked, rad, self.cfg.pgd_steps, self.cfg.pgd_step_size)
                    c[f"_curve_pgd_{sname}_{rad:g}"] += res["worst"].sum().item()
                    certified = (radii[sname] >= rad) & correct
                    c[f"_certcurve_{sname}"] += certified.sum().item()
                    c[f"_certcurveflip_{sname}"] += (certified & ~res["worst"]).sum().item()

    def results(self, counts: dict[str, float] | None = None, radii: Tensor | None = None) -> dict[str, float]:
        counts = self.counts if counts is None else counts
        n = max(counts["n"], 1.0)
        out = {k: v / n for k, v in counts.items() if not k.startswith("_") and k != "n"}
        for sname, _, _ in self.settings():
            cert = counts.get(f"_certified_{sname}", 0.0)
            out[f"certified_frac_{sname}"] = cert / n
            out[f"cert_flipped_{sname}"] = counts.get(f"_certflip_{sname}", 0.0) / cert if cert > 0 else 0.0
            # pooled over the curve radii: (sample, radius) pairs certified at that radius and flipped by PGD there
            cc = counts.get(f"_certcurve_{sname}", 0.0)
            out[f"cert_pairs_{sname}"] = cc
            out[f"cert_flipped_curve_{sname}"] = counts.get(f"_certcurveflip_{sname}", 0.0) / cc if cc > 0 else 0.0
        r = torch.cat(self.radii) if radii is None else radii
        if r.numel():
            out["median_radius"] = float(r.median())
        return out

    def curves(self, counts: dict[str, float] | None = None) -> tuple[list[float], dict[str, list[float]]]:
        """x = curve radii; certified and PGD (worst-case) accuracy per setting."""
        counts = self.counts if counts is None else counts
        n = max(counts["n"], 1.0)
        xs = [float(r) for r in self.cfg.curve_radii]
        curves: dict[str, list[float]] = {}
        for sname, _, _ in self.settings():
            tag = "" if sname == "both" else f"{sname}_"
            curves[f"certified ({sname})"] = [counts.get(f"cert_{tag}{r:g}", 0.0) / n for r in xs]
            if self.cfg.curve:
                curves[f"PGD ({sname})"] = [counts.get(f"_curve_pgd_{sname}_{r:g}", 0.0) / n for r in xs]
        return xs, curves
