"""``make bench``: EEGEncoder's training throughput at paper size (batch 64, 22 x 1125 at 250 Hz, 4 classes) vs
braindecode's ATCNet, measured in the same process; plus the depthwise-as-matmul speed-up (same weights, same result).

Every target does the same step: forward, label-smoothed cross-entropy, backward, Adam(1e-3) update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from eegencoder.baselines import build_model
from eegencoder.model import EEGEncoderConfig
from paperkit.bench import BenchTarget, bench_arg_parser, compare, write_bench
from paperkit.errors import run_script

__all__ = ["main"]

BATCH, CHANS, TIMES, CLASSES = 64, 22, 1125, 4


def _make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(BATCH, CHANS, TIMES, generator=g), torch.randint(0, CLASSES, (BATCH,), generator=g)


def _step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y, label_smoothing=0.2)


def _target(name: str, model: nn.Module) -> BenchTarget:
    adam: Callable = lambda p: torch.optim.Adam(p, lr=1e-3)  # noqa: E731
    return BenchTarget(name, model, _make_batch, step=_step, optimizer=adam, batch_size=BATCH)


def main(args: list[str] | None = None) -> dict:
    opts = bench_arg_parser(__doc__.splitlines()[0]).parse_args(args)
    torch.manual_seed(0)
    cfg = EEGEncoderConfig(n_chans=CHANS, n_times=TIMES, n_classes=CLASSES)
    rows = []
    pairs = [
        ("eegencoder", build_model("eegencoder", cfg), "braindecode.ATCNet", build_model("atcnet", cfg)),
        (
            "eegencoder (depthwise as matmul)",
            build_model("eegencoder", cfg),
            "eegencoder (grouped conv)",
            build_model("eegencoder", dataclasses.replace(cfg, fast_depthwise=False)),
        ),
    ]
    for cand_name, cand, ref_name, ref in pairs:
        [res] = compare([_target(cand_name, cand)], _target(ref_name, ref), steps=opts.steps, warmup=opts.warmup,
                        device=opts.device)  # fmt: skip
        row = {"pair": f"{cand_name} vs {ref_name}", **res}
        rows.append(row)
        print(
            f"{cand_name}: {res['candidate']['samples_per_s']:.1f} samples/s | {ref_name}: "
            f"{res['reference']['samples_per_s']:.1f} samples/s | speed ratio {res['speed_ratio']:.2f}, "
            f"memory ratio {res['memory_ratio']:.2f}"
        )
    path = write_bench("eegencoder", rows, opts.out, batch=BATCH, input=[CHANS, TIMES], device=opts.device)
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
