"""``customdiffusion360 sample``: a trained delta file on its base, images of the concept over azimuth.

    customdiffusion360 sample --delta runs/customdiffusion360/version_0/delta.safetensors \\
        --prompt "photo of a <new1> cube" --azimuths 0 45 90 135 --elevation 20 [--base PATH_OR_HUB_ID]

The delta holds the pose modules, the V* token rows and the training views used as references; the base is the
one recorded in the file (the tiny default's cached folder, or the SDXL hub id / folder) unless ``--base`` is given.
Images go to a new ``runs/customdiffusion360/version_N/samples/`` with ``samples.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import torch

from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError
from paperkit.runs import new_run_dir

__all__ = ["main", "sample_views"]

log = logging.getLogger(__name__)


def sample_views(
    delta: str | Path,
    prompt: str,
    azimuths: list[float],
    elevation: float = 20.0,
    base: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    guidance_text: float | None = None,
    guidance_image: float | None = None,
) -> torch.Tensor:
    """Images (K, 3, H, W) in [0, 1] of ``prompt`` at the given orbit azimuths (degrees)."""
    from customdiffusion360.datasets.common import Scene, orbit_camera
    from customdiffusion360.model import load_delta
    from customdiffusion360.nerf import Cameras
    from customdiffusion360.sampling import guided_sample, per_sample_noise

    model, meta, extra = load_delta(delta, base_path=base)
    model.eval()
    hp = json.loads(meta.get("hparams", "{}"))
    n_refs, ref_t = int(meta.get("n_refs", 3)), int(meta.get("ref_t", 19))
    views = extra["ref_image"]
    scene = Scene(
        views,
        None,
        extra["ref_R"],
        extra["ref_T"],
        extra["ref_focal"],
        extra["ref_pp"],
        [str(v) for v in extra["ref_view"].tolist()],
        "",
    )
    k = len(azimuths)
    R, T, f, pp = orbit_camera(
        scene, torch.tensor(azimuths, dtype=torch.float32), torch.full((k,), elevation), up=extra["up"]
    )
    pick = [int(i * len(views) / n_refs) for i in range(n_refs)]  # evenly spaced references, as at evaluation
    refs = Cameras(
        *(
            extra[n][pick].unsqueeze(0).expand(k, *extra[n][pick].shape)
            for n in ("ref_R", "ref_T", "ref_focal", "ref_pp")
        )
    )
    b = model.base
    ref_prompt = json.loads(json.dumps(meta.get("ref_prompt", "")))
    with torch.no_grad():
        x = b.to_latent(views[pick].float())
        a = _alphas(b)[ref_t]
        xs = []
        for j, v in zip(range(n_refs), extra["ref_view"][pick].tolist()):
            g = torch.Generator().manual_seed(1_000_003 * (v + 2) + 7919 * ref_t + int(hp.get("base_seed", 0)))
            xs.append(a.sqrt() * x[j] + (1 - a).sqrt() * torch.randn(x[j].shape, generator=g))
        tt = torch.full((n_refs,), ref_t)
        feats = model.reference_features(torch.stack(xs), tt, b.encode_text([ref_prompt] * n_refs, x.device))
        zero = torch.zeros(n_refs, *x.shape[1:])
        null_feats = model.reference_features(zero, tt, b.encode_text([""] * n_refs, x.device))
        expand = lambda d: {n: v.unsqueeze(0).expand(k, *v.shape) for n, v in d.items()}  # noqa: E731
        shape = (b.latent_channels, b.latent_size, b.latent_size)
        noise = per_sample_noise([seed * 7_777_777 + i for i in range(k)], shape, x.device)
        z = guided_sample(
            model,
            b.encode_text([prompt] * k, x.device),
            b.encode_text([""] * k, x.device),
            Cameras(R, T, f, pp),
            refs,
            expand(feats),
            expand(null_feats),
            noise,
            steps or int(hp.get("sample_steps", 20)),
            guidance_text or float(hp.get("guidance_text", 7.5)),
            guidance_image or float(hp.get("guidance_image", 3.5)),
        )
        return (b.from_latent(z) + 1) / 2


def _alphas(base) -> torch.Tensor:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(base.scheduler_config).alphas_cumprod.float()


def _newest_delta(runs: Path) -> Path:
    found = sorted(runs.glob("customdiffusion360/version_*/delta.safetensors"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise DataNotFoundError(
            "delta file",
            runs / "customdiffusion360",
            missing=["version_*/delta.safetensors"],
            hint="Train first (customdiffusion360 train) or pass --delta.",
        )
    return found[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="customdiffusion360 sample", description=__doc__.splitlines()[0])
    p.add_argument("--delta", default=None, help="delta.safetensors written by fit (default: the newest run's)")
    p.add_argument("--prompt", required=True, help='e.g. "photo of a <new1> cube"')
    p.add_argument("--azimuths", type=float, nargs="+", default=[0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0])
    p.add_argument("--elevation", type=float, default=20.0)
    p.add_argument("--base", default=None, help="the base model (default: the one recorded in the delta)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs", help="runs folder (a new customdiffusion360/version_N is created)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = Path(a.delta) if a.delta else _newest_delta(Path(a.out))
        if not path.is_file():
            raise DataNotFoundError(
                "delta file",
                path.parent,
                missing=[path.name],
                hint="fit writes runs/customdiffusion360/version_N/delta.safetensors.",
            )
        try:
            images = sample_views(path, a.prompt, a.azimuths, a.elevation, a.base, a.steps, a.seed)
        except (ValueError, OSError, RuntimeError) as err:
            if "delta" in str(err) or "safetensors" in str(err).lower() or "header" in str(err).lower():
                raise DataFormatError(path, f"not a CustomDiffusion360 delta file ({err})") from None
            raise
    except PaperkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from customdiffusion360.report import save_png

    folder = new_run_dir(a.out, "customdiffusion360") / "samples"
    rows = []
    for i, (az, img) in enumerate(zip(a.azimuths, images)):
        out = save_png(img, folder / f"az{az:05.1f}.png")
        rows.append({"id": i, "prompt": a.prompt, "azimuth": az, "elevation": a.elevation, "image": str(out)})
    with open(folder / "samples.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    log.info("%d samples written to %s", len(rows), folder)
    return 0
