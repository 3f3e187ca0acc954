"""``make bench``: the cost of LIO's training-only heads and the inference model's speed, in one process.

1. Training step: the LIO step (backbone + OEL + SCL on a grouped batch, Eq. 10) against the plain backbone step (CE
   only) on the *same* batch of anchors + positives, SGD; ratio = LIO / plain seconds per step (goal <= 1.10).
2. Inference: the exported model (``LIO.export()``: backbone + GAP + Linear) against a bare torchvision model of the
   same architecture and class count; ratio of throughputs (goal 1.00 +- noise: the heads are gone).

Paper setting: torchvision ResNet-50, 448 px, 16 anchors + 48 positives (the default on a GPU). On a CPU the default is
reduced to 224 px and 4 anchors + 12 positives so that it finishes in minutes; pass ``--image_size 448 --anchors 16``
to force the paper size. Random init (no download); the cost does not depend on the weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lio.model import LIO, LIOConfig
from paperkit.bench import BenchTarget, bench_arg_parser, compare, time_fn, write_bench
from paperkit.errors import run_script

__all__ = ["main"]


def _sgd(params: object) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=1e-3, momentum=0.9)


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--image_size", type=int, default=None, help="default 448 on a GPU, 224 on a CPU")
    p.add_argument("--anchors", type=int, default=None, help="default 16 on a GPU, 4 on a CPU")
    p.add_argument("--num_positive", type=int, default=3)
    p.add_argument("--n_classes", type=int, default=200)
    p.add_argument("--stage", type=int, default=3)
    opts = p.parse_args(args)
    gpu = str(opts.device).startswith("cuda")
    size = opts.image_size or (448 if gpu else 224)
    anchors = opts.anchors or (16 if gpu else 4)
    group = 1 + opts.num_positive
    n = anchors * group
    torch.manual_seed(0)

    def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, opts.n_classes, (anchors,), generator=g).repeat_interleave(group)
        return torch.randn(n, 3, size, size, generator=g), y

    cfg = LIOConfig(n_classes=opts.n_classes, backbone=opts.backbone, stage=opts.stage)
    lio = LIO(cfg)
    plain = LIO(LIOConfig(n_classes=opts.n_classes, backbone=opts.backbone, use_oel=False, use_scl=False))
    plain.load_state_dict(lio.state_dict(), strict=False)

    def lio_step(model: nn.Module, batch: tuple) -> torch.Tensor:
        return model.objective(batch[0], batch[1], group)[0]["loss"]

    def plain_step(model: nn.Module, batch: tuple) -> torch.Tensor:
        return F.cross_entropy(model(batch[0]), batch[1])

    [train] = compare(
        [BenchTarget("LIO step (CE + OEL + SCL)", lio, make_batch, step=lio_step, optimizer=_sgd, batch_size=n)],
        BenchTarget(f"plain {opts.backbone} step (CE)", plain, make_batch, step=plain_step, optimizer=_sgd,
                    batch_size=n),
        steps=opts.steps, warmup=opts.warmup, device=opts.device,
    )  # fmt: skip
    overhead = train["reference"]["steps_per_s"] / train["candidate"]["steps_per_s"]

    import torchvision

    dev = torch.device(opts.device)
    exported = lio.export().to(dev)
    bare = torchvision.models.get_model(opts.backbone.removeprefix("torchvision:"), num_classes=opts.n_classes)
    bare = bare.to(dev).eval()
    x = make_batch()[0][:anchors].to(dev)

    def infer(model: nn.Module) -> dict:
        with torch.inference_mode():
            return time_fn(lambda: model(x), repeats=max(3, opts.steps), warmup=max(1, opts.warmup), device=dev)

    t_bare, t_exp, t_bare2 = infer(bare), infer(exported), infer(bare)  # bare twice: the noise of the measurement
    bare_s = min(t_bare["median_s"], t_bare2["median_s"])
    rows = [
        {"pair": "LIO train step vs plain step (same batch)", **train, "overhead_ratio": overhead},
        {"pair": "exported LIO inference vs bare torchvision", "exported_s": t_exp["median_s"], "bare_s": bare_s,
         "bare_repeat_spread": abs(t_bare["median_s"] - t_bare2["median_s"]) / bare_s,
         "throughput_ratio": bare_s / t_exp["median_s"], "batch": anchors},
    ]  # fmt: skip
    print(
        f"train step: LIO {1 / train['candidate']['steps_per_s']:.3f} s, "
        f"plain {1 / train['reference']['steps_per_s']:.3f}"
        f" s -> overhead ratio {overhead:.3f} ({n} images of {size} px, {opts.device})"
    )
    print(
        f"inference ({anchors} images): exported {t_exp['median_s']:.4f} s, bare {bare_s:.4f} s -> throughput ratio "
        f"{bare_s / t_exp['median_s']:.3f} (bare-vs-bare spread {rows[1]['bare_repeat_spread']:.3f})"
    )
    path = write_bench("lio", rows, opts.out, backbone=opts.backbone, image_size=size, anchors=anchors,
                       positives=anchors * opts.num_positive, device=opts.device)  # fmt: skip
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
