"""``make bench``: (1) the SAM training step of the paper-size MLP (1536 -> 3 x 1536 -> 1, batch 2048, the paper's loss)
against a plain AdamW step in the same process (SAM needs two forward/backward passes: goal <= 2.1x the time);
(2) frozen CLIP ViT-L/14 feature extraction at 224 px, images/s (and captions/s) on this machine's CPU.

ViT-L/14's OpenAI weights cannot be downloaded here, so the extraction is timed with randomly initialised weights of the
same architecture (the cost does not depend on the weight values).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dmdetect.losses import detector_loss
from dmdetect.model import Detector, DetectorConfig
from dmdetect.sam import SAM, frozen_bn_stats
from paperkit.bench import BenchTarget, bench_arg_parser, compare, time_fn, write_bench
from paperkit.errors import run_script

__all__ = ["main"]

BATCH, DIM = 2048, 768


def _make_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"image": torch.randn(BATCH, DIM, generator=g), "text": torch.randn(BATCH, DIM, generator=g),
            "label": (torch.rand(BATCH, generator=g) > 0.2).float()}  # fmt: skip


def _loss(model: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
    return detector_loss(model(b["image"], b["text"]), b["label"], gamma=0.5, alpha=0.8)["loss"]


def _adamw(p) -> torch.optim.Optimizer:
    return torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01)


def _sam_target() -> BenchTarget:
    holder: dict[str, SAM] = {}

    def make_opt(params) -> torch.optim.Optimizer:
        holder["sam"] = SAM(params, _adamw, rho=0.05)
        return holder["sam"]

    def step(model: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
        _loss(model, b).backward()  # pass 1 at w (BatchNorm statistics updated)
        holder["sam"].first_step(zero_grad=True)
        with frozen_bn_stats(model):
            return _loss(model, b)  # pass 2 at w + e; the harness runs backward and SAM.step (restore + AdamW)

    torch.manual_seed(0)
    return BenchTarget("SAM(AdamW) step", Detector(DetectorConfig()), _make_batch, step=step, optimizer=make_opt)


def _clip_extraction(repeats: int, batch: int) -> dict:
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-L-14", pretrained=None).eval()
    tok = open_clip.get_tokenizer("ViT-L-14")
    pix = torch.randn(batch, 3, 224, 224)
    text = tok(["a photo of a dog on a beach at sunset"] * batch)
    enc_img: Callable = lambda: model.encode_image(pix)  # noqa: E731
    enc_txt: Callable = lambda: model.encode_text(text)  # noqa: E731
    with torch.no_grad():
        ti = time_fn(enc_img, repeats=repeats, warmup=1)
        tt = time_fn(enc_txt, repeats=repeats, warmup=1)
    return {"pair": "CLIP ViT-L/14 extraction, 224 px", "batch": batch, "image": ti, "text": tt,
            "images_per_s": batch / ti["median_s"], "captions_per_s": batch / tt["median_s"],
            "threads": torch.get_num_threads()}  # fmt: skip


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--clip-batch", type=int, default=4)
    p.add_argument("--clip-repeats", type=int, default=2)
    p.add_argument("--skip-clip", action="store_true")
    opts = p.parse_args(args)
    torch.manual_seed(0)
    ref = BenchTarget("AdamW step", Detector(DetectorConfig()), _make_batch, step=_loss, optimizer=_adamw)
    [res] = compare([_sam_target()], ref, steps=opts.steps, warmup=opts.warmup, device=opts.device)
    time_ratio = 1.0 / res["speed_ratio"]
    rows = [{"pair": "SAM(AdamW) vs AdamW, MLP 1536x3, batch 2048", **res, "time_ratio": time_ratio}]
    print(f"SAM step {res['candidate']['seconds'] / res['candidate']['steps']:.3f} s, AdamW step "
          f"{res['reference']['seconds'] / res['reference']['steps']:.3f} s: SAM takes {time_ratio:.2f}x the time "
          f"(goal <= 2.1x)")  # fmt: skip
    if not opts.skip_clip:
        row = _clip_extraction(opts.clip_repeats, opts.clip_batch)
        rows.append(row)
        print(f"ViT-L/14 at 224 px on {opts.device}: {row['images_per_s']:.2f} images/s, "
              f"{row['captions_per_s']:.2f} captions/s ({row['threads']} threads)")  # fmt: skip
    path = write_bench("dmdetect", rows, opts.out, batch=BATCH, input=[DIM, DIM], device=opts.device)
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
