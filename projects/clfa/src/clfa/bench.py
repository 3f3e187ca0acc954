"""``make bench``: training throughput of the paper-sized CLFA vs. its bare encoders (README, Benchmark).

Candidate: the full CLFA model at paper size (BERT-base text encoder on 77 tokens, ViT-B/32 at 224 px, projections
768 -> 1536 -> 512, 3 cross-attention layers, classifier) with CE + α(L_img + L_txt), random init (no download).
Reference: the bare BERT-base + ViT-B/32 encoders' forward/backward on the same inputs (loss = mean of their outputs).
Both are timed in the same process; ``speed_ratio`` = CLFA steps/s ÷ bare-encoder steps/s (the cost of CLFA's
projection, fusion and alignment heads). Batch 8 (the paper's) and 32; on the CPU only batch 8 unless
``--batch-sizes`` says otherwise, with a few steps (a timing, not a training run).
"""

from __future__ import annotations

import torch
from transformers import BertConfig, BertModel, ViTConfig, ViTModel

from clfa.losses import clfa_loss
from clfa.module import CLFAModule
from paperkit.bench import BenchTarget, bench_arg_parser, compare, write_bench
from paperkit.errors import run_script

__all__ = ["main", "paper_module"]

SEQ, IMG, DIM = 77, 224, 512


def paper_module() -> CLFAModule:
    """Paper-sized CLFA with random weights (``random-base`` encoders)."""
    return CLFAModule(
        vocab_size=30522, text_encoder="random-base", image_encoder="random-base", image_size=IMG,
        proj_hidden=1536, proj_dim=DIM, fusion_layers=3, fusion_heads=8,
    )  # fmt: skip


def _batch(b: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(b, SEQ, dtype=torch.long)
    mask[:, 40:] = 0  # typical tweets are shorter than 77 wordpieces
    return {
        "input_ids": torch.randint(1000, 30000, (b, SEQ), generator=g),
        "attention_mask": mask,
        "pixel_values": torch.randn(b, 3, IMG, IMG, generator=g),
        "labels": torch.randint(0, 2, (b,), generator=g),
        "teacher_text": torch.randn(b, DIM, generator=g),
        "teacher_image": torch.randn(b, DIM, generator=g),
    }


def _clfa_step(model: CLFAModule, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    out = model(batch)
    return clfa_loss(out, batch["labels"], batch["teacher_text"], batch["teacher_image"])["loss"]


class BareEncoders(torch.nn.Module):
    """BERT-base + ViT-B/32, nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.text = BertModel(BertConfig(), add_pooling_layer=False)
        self.image = ViTModel(ViTConfig(image_size=IMG, patch_size=32), add_pooling_layer=False)


def _bare_step(model: BareEncoders, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    t = model.text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    v = model.image(pixel_values=batch["pixel_values"]).last_hidden_state
    return t.mean() + v.mean()


def train_flops(model: torch.nn.Module, step, b: int = 2) -> int:
    """Forward + backward FLOPs of one step at batch ``b`` (``torch.utils.flop_counter``; hardware-independent)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step(model, _batch(b)).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="default: 8 32 on GPU, 8 on CPU")
    opts = p.parse_args(args)
    sizes = opts.batch_sizes or ([8, 32] if opts.device.startswith("cuda") else [8])
    steps, warmup = (opts.steps, opts.warmup) if opts.device.startswith("cuda") else (min(opts.steps, 2), 1)
    opt = lambda params: torch.optim.AdamW(params, lr=1e-5)  # noqa: E731 - same optimiser for both
    rows, flops = [], {}
    for b in sizes:
        torch.manual_seed(0)
        cand = BenchTarget("clfa (paper size)", paper_module(), lambda b=b: _batch(b), _clfa_step, opt, b)
        ref = BenchTarget("BERT-base + ViT-B/32 (bare)", BareEncoders(), lambda b=b: _batch(b), _bare_step, opt, b)
        if not flops:  # counted once, on the CPU, before the timed models move to the device
            flops = {"clfa": train_flops(cand.model, _clfa_step), "bare": train_flops(ref.model, _bare_step)}
        res = compare([cand], ref, steps=steps, warmup=warmup, device=opts.device)[0]
        rows.append({"batch_size": b, **res})
        print(
            f"batch {b}: clfa {res['candidate']['samples_per_s']:.2f} samples/s, bare encoders "
            f"{res['reference']['samples_per_s']:.2f} samples/s, speed ratio {res['speed_ratio']:.3f}, "
            f"memory ratio {res['memory_ratio']:.3f}"
        )
    flops_row = {"flops_per_sample_clfa": flops["clfa"] / 2, "flops_per_sample_bare": flops["bare"] / 2}
    flops_row["flop_ratio_bare_over_clfa"] = flops["bare"] / flops["clfa"]
    print(f"train FLOPs per sample: clfa {flops['clfa'] / 2e9:.1f} G, bare {flops['bare'] / 2e9:.1f} G")
    for row in rows:
        row.update(flops_row)
    path = write_bench("clfa", rows, opts.out, steps=steps, warmup=warmup, device=opts.device)
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
