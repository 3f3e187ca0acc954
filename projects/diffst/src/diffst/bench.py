"""``make bench``: Diff-ST's training step and 20-step sampling at paper sizes (25 genes, spot map 26 x 26 -> HR
256 x 256, 256 cell tiles of 16 x 16, C = 128, GroupNorm 32, batch 1) against the bare denoiser U-Net without the
histology branches, measured in the same process (ratios).

Training step: forward, Charbonnier + L_vlb (+ 0.01 L_dis), backward, AdamW(1e-4) update. Sampling: 20 respaced
ancestral DDPM steps. ``--channels`` / ``--hr`` shrink the setting for a quick check.
"""

from __future__ import annotations

import torch

from diffst.module import DiffSTModule
from paperkit.bench import BenchTarget, bench_arg_parser, compare, time_fn, write_bench
from paperkit.errors import run_script

__all__ = ["main"]


def _module(arch: str, opts) -> DiffSTModule:
    lr = max(8, round(opts.hr / 256 * 26))
    return DiffSTModule(
        arch=arch,
        genes=25,
        lr_size=lr,
        hr_size=opts.hr,
        tile_size=16,
        n_tiles=256,
        channels=opts.channels,
        norm_groups=32 if opts.channels % 32 == 0 else 8,
    )


def _batch(m: DiffSTModule, b: int = 1) -> dict:
    h = m.hparams
    g = torch.Generator().manual_seed(0)
    return {
        "hr": torch.rand(b, h.genes, h.hr_size, h.hr_size, generator=g),
        "lr": torch.rand(b, h.genes, h.lr_size, h.lr_size, generator=g),
        "image": torch.rand(b, 3, h.hr_size, h.hr_size, generator=g),
        "tiles": torch.rand(b, h.n_tiles, 3, h.tile_size, h.tile_size, generator=g),
        "index": torch.arange(b),
        "has_hr": torch.ones(b, dtype=torch.bool),
    }


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--hr", type=int, default=256)
    p.add_argument("--sample_repeats", type=int, default=1)
    p.set_defaults(steps=3, warmup=1)  # one paper-size step takes tens of seconds on a CPU
    opts = p.parse_args(args)
    torch.manual_seed(0)
    mods = {a: _module(a, opts) for a in ("diffst", "bare")}
    adamw = lambda params: torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-5)  # noqa: E731
    targets = {
        a: BenchTarget(
            f"{a} train step",
            m,
            lambda m=m: _batch(m),
            step=lambda mod, b: mod.loss_terms(b)["loss"],
            optimizer=adamw,
            batch_size=1,
        )
        for a, m in mods.items()
    }
    [train] = compare([targets["diffst"]], targets["bare"], steps=opts.steps, warmup=opts.warmup, device=opts.device)
    sampling = {}
    for a, m in mods.items():
        m.to(opts.device).eval()
        batch = {k: v.to(opts.device) for k, v in _batch(m).items()}
        sampling[a] = time_fn(
            lambda m=m, batch=batch: m.super_resolve(batch), repeats=opts.sample_repeats, warmup=0, device=opts.device
        )
    row_s = {
        "pair": "20-step sampling: diffst vs bare",
        "candidate": {"name": "diffst sampling", **sampling["diffst"]},
        "reference": {"name": "bare sampling", **sampling["bare"]},
        "speed_ratio": sampling["bare"]["median_s"] / sampling["diffst"]["median_s"],
    }
    rows = [{"pair": "train step: diffst vs bare denoiser", **train}, row_s]
    print(
        f"train step: diffst {train['candidate']['samples_per_s']:.3f} samples/s | bare "
        f"{train['reference']['samples_per_s']:.3f} samples/s | speed ratio {train['speed_ratio']:.2f}, memory ratio "
        f"{train['memory_ratio']:.2f}"
    )
    print(
        f"20-step sampling (batch 1): diffst {sampling['diffst']['median_s']:.2f} s | bare "
        f"{sampling['bare']['median_s']:.2f} s | speed ratio {row_s['speed_ratio']:.2f}"
    )
    path = write_bench(
        "diffst",
        rows,
        opts.out,
        genes=25,
        lr=mods["diffst"].hparams.lr_size,
        hr=opts.hr,
        channels=opts.channels,
        device=opts.device,
    )
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
