"""``python -m crmt.bench``: training throughput of the KS-sized CRMT model vs plain joint training.

Candidate: :class:`crmt.module.CRMTModule` with two ResNet-18 encoders (audio 1-channel spectrogram, 3 frames pooled)
and the CRMT head, one step-1 optimiser step (CE + margin term; optionally CRMT-AT's 5-step attack) and one step-2
step (only ``a``). Reference: the same two torchvision ResNet-18 trunks + ``Linear(1024, 31)`` trained with plain
cross-entropy, measured in the same process (ratio = CRMT overhead). Paper size is audio (1, 1024, 128) and frames
(3, 3, 224, 224) at batch 64 (``--paper-size``, the default on CUDA); the CPU default shrinks the inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crmt.model import ResNet18Encoder
from crmt.module import CRMTModule
from paperkit.bench import BenchTarget, bench_arg_parser, measure, write_bench
from paperkit.errors import run_script

__all__ = ["main"]


class PlainJT(nn.Module):
    """Two torchvision ResNet-18 trunks + one linear layer on the concatenated features, cross-entropy only."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.audio, self.visual = ResNet18Encoder(1, frames=False), ResNet18Encoder(3, frames=True)
        self.fc = nn.Linear(1024, n_classes)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.fc(torch.cat([self.audio(xs[0]), self.visual(xs[1])], dim=1))


def main(args: list[str] | None = None) -> dict:
    parser = bench_arg_parser("CRMT (two ResNet-18s) vs plain joint training, training throughput")
    parser.add_argument("--batch-size", type=int, default=None, help="default 64 (paper) on CUDA, 4 on the CPU")
    parser.add_argument("--at", action="store_true", help="also time CRMT-AT step 1 (about 6x a clean step)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--paper-size", action="store_true", help="audio 1024x128, frames 224x224")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--audio-frames", type=int, default=None)
    parser.add_argument("--n-classes", type=int, default=31)
    opts = parser.parse_args(args)
    paper = opts.paper_size or opts.device.startswith("cuda")
    img = opts.image_size or (224 if paper else 32)
    frames = opts.audio_frames or (1024 if paper else 64)
    b, k = opts.batch_size or (64 if paper else 4), opts.n_classes
    if opts.threads:
        torch.set_num_threads(opts.threads)

    def make_batch() -> tuple[list[torch.Tensor], torch.Tensor]:
        return [torch.randn(b, 1, frames, 128), torch.randn(b, 3, 3, img, img)], torch.randint(0, k, (b,))

    def sgd(params):
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=1e-4)

    def crmt(**kw) -> CRMTModule:
        return CRMTModule(
            n_classes=k,
            modality_names=["audio", "visual"],
            in_sizes=[1, 3],
            encoder_kinds=["resnet18_audio", "resnet18_frames"],
            a_init=0.1,
            **kw,
        )

    def step1(m: CRMTModule, batch) -> torch.Tensor:
        return m.compute_step1_loss(*batch)[0]

    step2_model = crmt()
    step2_model.lip.fill_(1.0)
    step2_model.net.eval()

    def step2(m: CRMTModule, batch) -> torch.Tensor:
        m.net.eval()  # BN frozen in step 2
        return m.compute_step2_loss(*batch)[0]

    reference = BenchTarget(
        "plain JT (2x torchvision ResNet-18, CE)",
        PlainJT(k),
        make_batch,
        step=lambda m, bt: F.cross_entropy(m(bt[0]), bt[1]),
        optimizer=sgd,
        batch_size=b,
    )
    candidates = [
        BenchTarget("CRMT step 1 (CE + margin)", crmt(), make_batch, step=step1, optimizer=sgd, batch_size=b),
        BenchTarget(
            "CRMT step 2 (a only)",
            step2_model,
            make_batch,
            step=step2,
            optimizer=lambda p: torch.optim.SGD([step2_model.net.head.a], lr=3e-5),
            batch_size=b,
        ),
    ]
    if opts.at:
        candidates.append(
            BenchTarget(
                "CRMT-AT step 1 (5-step attack)",
                crmt(train_input="adversarial"),
                make_batch,
                step=step1,
                optimizer=sgd,
                batch_size=b,
            )
        )
    # the reference is measured once, first, in this process; ratios are candidate / reference
    ref = measure(reference, steps=opts.steps, warmup=opts.warmup, device=opts.device)
    print(f"{reference.name}: {ref['samples_per_s']:.2f} samples/s")
    rows = []
    for cand in candidates:
        res = measure(cand, steps=opts.steps, warmup=opts.warmup, device=opts.device)
        ratio = res["steps_per_s"] / ref["steps_per_s"]
        mem = res["peak_mem_mb"] / ref["peak_mem_mb"] if ref["peak_mem_mb"] > 0 else float("nan")
        rows.append({"candidate": res, "reference": ref, "speed_ratio": ratio, "memory_ratio": mem})
        print(f"{cand.name}: {res['samples_per_s']:.2f} samples/s, speed ratio vs reference {ratio:.3f}")
    path = write_bench("crmt", rows, opts.out, batch_size=b, image_size=img, audio_frames=frames)
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
