"""``make bench``: the cost of LIO's training-only heads and the inference model's speed, in one process.

1. Training step: the LIO step (backbone + OEL + SCL on a grouped batch, Eq. 10) against the plain backbone step (CE
   only) on the *same* batch of anchors + positives, SGD; ratio = LIO / plain seconds per step (goal <= 1.10).
2. Inference: the exported model (``LIO.export()``: backbone + GAP + Linear) against a bare torchvision model of the
   same architecture and class count; ratio of throughputs (goal 1.00 +- noise: the heads are gone).

Paper setting: torchvision ResNet-50, 448 px, 16 anchors + 48 positives (the default on a GPU). On a CPU the default is
reduced to 224 px and 4 anchors + 12 positives so that it finishes in minutes; pass ``--image_size 448 --anchors 16``
to force the paper size. Random init (no download); the cost does not depend on the weights.

``--micro_groups G`` (the paper size on a CPU: ``--paper_size`` = 448 px, 16 anchors, G = 2): the 64-image step does
not fit in this machine's memory in one pass (~0.45 GB of activations per 448-px image), so each step accumulates the
gradient over micro-batches of G whole groups (the same images and FLOPs; BatchNorm statistics per micro-batch), and
the two models are timed micro-batch by micro-batch in alternation (plain, LIO, LIO, plain, ...) so that a change of
the shared machine's load hits both alike; the per-micro-batch ratios give the spread. Inference alternates too.
Partial results are written after every micro-batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lio.model import LIO, LIOConfig
from paperkit.bench import BenchTarget, bench_arg_parser, compare, time_fn, write_bench
from paperkit.errors import run_script

__all__ = ["main", "paired_accumulated_steps", "paired_inference"]


def _sgd(params: object) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=1e-3, momentum=0.9)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def paired_accumulated_steps(
    models: dict[str, nn.Module],
    steps_fn: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]],
    batch: tuple[torch.Tensor, torch.Tensor],
    group: int,
    micro_groups: int,
    *,
    steps: int = 1,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Seconds per optimiser step of each model on the same batch of groups, the gradient accumulated over
    micro-batches of ``micro_groups`` whole groups (loss of a micro-batch weighted by its share of the batch).

    Models are timed micro-batch by micro-batch in alternation, the first model of each pair alternating, after
    ``warmup`` untimed micro-batches each. Returns ``{name: {"step_s", "micro_s", "optimizer_s"}, "micro_ratios"}``
    with ``micro_ratios`` = second / first model's seconds per micro-batch; ``progress(partial)`` after each pair.
    """
    dev = torch.device(device)
    names = list(models)
    x, y = batch
    n = x.shape[0]
    size = micro_groups * group
    parts = [slice(i, min(i + size, n)) for i in range(0, n, size)]
    opts = {}
    for k, m in models.items():
        m.to(dev).train()
        opts[k] = _sgd([p for p in m.parameters() if p.requires_grad])

    def fwd_bwd(name: str, sl: slice) -> float:
        xs, ys = x[sl].to(dev), y[sl].to(dev)
        _sync(dev)
        t0 = time.perf_counter()
        loss = steps_fn[name](models[name], xs, ys)
        (loss * (xs.shape[0] / n)).backward()
        _sync(dev)
        return time.perf_counter() - t0

    for i in range(warmup):
        for name in names:
            fwd_bwd(name, parts[i % len(parts)])
    for o in opts.values():  # the first optimiser step allocates the momentum buffers: part of the warm-up
        if warmup:
            o.step()
        o.zero_grad(set_to_none=True)
    micro: dict[str, list[float]] = {k: [] for k in names}
    opt_s: dict[str, list[float]] = {k: [] for k in names}

    def summary() -> dict:
        out: dict = {}
        for k in names:
            done = len(opt_s[k])
            out[k] = {"micro_s": micro[k], "optimizer_s": opt_s[k],
                      "step_s": (sum(micro[k]) + sum(opt_s[k])) / done if done else None}  # fmt: skip
        pairs = min(len(micro[names[0]]), len(micro[names[1]]))
        out["micro_ratios"] = [micro[names[1]][i] / micro[names[0]][i] for i in range(pairs)]
        return out

    for _ in range(steps):
        for j, sl in enumerate(parts):
            for name in names if (len(micro[names[0]]) % 2 == 0) else names[::-1]:
                micro[name].append(fwd_bwd(name, sl))
            if progress is not None:
                progress({**summary(), "micro_batch": j + 1, "of": len(parts)})
        for name in names:
            t0 = time.perf_counter()
            opts[name].step()
            opts[name].zero_grad(set_to_none=True)
            _sync(dev)
            opt_s[name].append(time.perf_counter() - t0)
    return summary()


def paired_inference(
    models: dict[str, nn.Module], x: torch.Tensor, *, repeats: int = 3, warmup: int = 1, device: str = "cpu"
) -> dict[str, list[float]]:
    """Seconds per forward pass of each model on ``x``, the models alternating call by call (after ``warmup``)."""
    dev = torch.device(device)
    x = x.to(dev)
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for r in range(warmup + repeats):
            for name in models if r % 2 == 0 else list(models)[::-1]:
                m = models[name].to(dev).eval()
                _sync(dev)
                t0 = time.perf_counter()
                m(x)
                _sync(dev)
                if r >= warmup:
                    times[name].append(time.perf_counter() - t0)
    return times


def _median(v: list[float]) -> float:
    s = sorted(v)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--image_size", type=int, default=None, help="default 448 on a GPU, 224 on a CPU")
    p.add_argument("--anchors", type=int, default=None, help="default 16 on a GPU, 4 on a CPU")
    p.add_argument("--num_positive", type=int, default=3)
    p.add_argument("--n_classes", type=int, default=200)
    p.add_argument("--stage", type=int, default=3)
    p.add_argument(
        "--micro_groups",
        type=int,
        default=None,
        help="accumulate each step over micro-batches of this many whole groups, timed in alternation",
    )
    p.add_argument("--paper_size", action="store_true", help="448 px, 16 anchors; on a CPU also --micro_groups 2")
    p.add_argument("--infer_repeats", type=int, default=None, help="timed inference calls per model (micro mode)")
    p.add_argument("--infer_only", action="store_true", help="micro mode: only the inference comparison")
    opts = p.parse_args(args)
    gpu = str(opts.device).startswith("cuda")
    size = opts.image_size or (448 if gpu or opts.paper_size else 224)
    anchors = opts.anchors or (16 if gpu or opts.paper_size else 4)
    if opts.paper_size and not gpu and opts.micro_groups is None:
        opts.micro_groups = 2
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

    if opts.micro_groups is not None:
        return _main_micro(opts, lio, plain, make_batch, size, anchors, group)

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


def _main_micro(opts: Any, lio: LIO, plain: LIO, make_batch: Callable, size: int, anchors: int, group: int) -> dict:
    """The accumulated, alternating measurement (``--micro_groups``); partial JSON after every micro-batch."""
    import torchvision

    n = anchors * group
    meta = {"backbone": opts.backbone, "image_size": size, "anchors": anchors, "positives": anchors * opts.num_positive,
            "device": opts.device, "micro_groups": opts.micro_groups, "micro_batch_images": opts.micro_groups * group,
            "timing": "alternating micro-batches, gradient accumulated over the step"}  # fmt: skip
    names = {"plain": f"plain {opts.backbone} step (CE)", "lio": "LIO step (CE + OEL + SCL)"}
    steps_fn = {
        "plain": lambda m, x, y: F.cross_entropy(m(x), y),
        "lio": lambda m, x, y: m.objective(x, y, group)[0]["loss"],
    }
    t_start = time.perf_counter()

    def train_row(res: dict) -> dict:
        row = {"pair": "LIO train step vs plain step (same batch)", "images_per_step": n,
               "plain": {"name": names["plain"], **res["plain"]},
               "lio": {"name": names["lio"], **res["lio"]}}  # fmt: skip
        mp, ml = sum(res["plain"]["micro_s"]), sum(res["lio"]["micro_s"])
        if mp > 0:
            row["overhead_ratio_so_far"] = ml / mp  # fwd+bwd seconds over the micro-batches timed so far
        if res["micro_ratios"]:
            r = sorted(res["micro_ratios"])
            row["micro_ratio_median"], row["micro_ratio_min"], row["micro_ratio_max"] = _median(r), r[0], r[-1]
        if res["plain"]["step_s"] and res["lio"]["step_s"]:
            row["overhead_ratio"] = res["lio"]["step_s"] / res["plain"]["step_s"]
        return row

    def progress(res: dict) -> None:
        row = train_row(res)
        print(f"micro-batch {res['micro_batch']}/{res['of']}: plain {res['plain']['micro_s'][-1]:.2f} s, "
              f"LIO {res['lio']['micro_s'][-1]:.2f} s, "
              f"ratio so far {row.get('overhead_ratio_so_far', float('nan')):.3f}"
              f" ({time.perf_counter() - t_start:.0f} s elapsed)", flush=True)  # fmt: skip
        write_bench("lio", [row], opts.out, partial=True, peak_rss_mb=_peak_rss_mb(), **meta)

    rows = []
    if not opts.infer_only:
        res = paired_accumulated_steps(
            {"plain": plain, "lio": lio}, steps_fn, make_batch(), group, opts.micro_groups,
            steps=opts.steps, warmup=opts.warmup, device=opts.device, progress=progress,
        )  # fmt: skip
        train = train_row(res)
        rows.append(train)
    dev = torch.device(opts.device)
    exported = lio.export().to(dev)
    bare = torchvision.models.get_model(opts.backbone.removeprefix("torchvision:"), num_classes=opts.n_classes)
    x = make_batch()[0][:anchors]
    t = paired_inference({"bare": bare, "exported": exported}, x, repeats=opts.infer_repeats or max(3, opts.steps),
                         warmup=1, device=opts.device)  # fmt: skip
    bare_s, exp_s = _median(t["bare"]), _median(t["exported"])
    infer = {"pair": "exported LIO inference vs bare torchvision", "exported_s": exp_s, "bare_s": bare_s,
             "exported_calls_s": t["exported"], "bare_calls_s": t["bare"],
             "bare_repeat_spread": (max(t["bare"]) - min(t["bare"])) / bare_s,
             "throughput_ratio": bare_s / exp_s, "batch": anchors,
             "pair_ratios": [b / e for b, e in zip(t["bare"], t["exported"])]}  # fmt: skip
    rows.append(infer)
    if not opts.infer_only:
        print(
            f"train step: LIO {train['lio']['step_s']:.2f} s, plain {train['plain']['step_s']:.2f} s -> overhead ratio "
            f"{train['overhead_ratio']:.3f} (micro-batch ratios {train['micro_ratio_min']:.3f}-"
            f"{train['micro_ratio_max']:.3f}; {n} images of {size} px in micro-batches of {opts.micro_groups * group})"
        )
    print(f"inference ({anchors} images): exported {exp_s:.3f} s, bare {bare_s:.3f} s -> throughput ratio "
          f"{bare_s / exp_s:.3f} (bare spread {infer['bare_repeat_spread']:.3f})")  # fmt: skip
    path = write_bench("lio", rows, opts.out, partial=False, peak_rss_mb=_peak_rss_mb(),
                       seconds_total=time.perf_counter() - t_start, **meta)  # fmt: skip
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
