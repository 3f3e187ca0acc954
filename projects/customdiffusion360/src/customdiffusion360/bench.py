"""``make bench``: the customisation step with pose blocks against the frozen base UNet's step (the token-only
step: the same frozen UNet, no pose blocks), at the same size, measured in the same process (paperkit.bench).

Rows (CPU, the embedded default's tiny size, batch 4, 4 references):

* ``pose blocks (memoised references)`` vs ``frozen base step``: the default training step;
* ``pose blocks (reference stream every step)`` vs ``frozen base step``: the official code's per-step reference pass.

With ``--device cuda`` and ``--sdxl`` the same pair is measured at 512 px on an SDXL-shaped pipeline (the real
architecture built from its published sizes with random weights, saved with ``save_pretrained`` and loaded through
the same code path as the hub name; or a real folder / hub id given to ``--sdxl``).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch

from customdiffusion360.data import CD360DataModule
from customdiffusion360.module import CD360Module
from paperkit.bench import BenchTarget, bench_arg_parser, compare, write_bench
from paperkit.errors import run_script

__all__ = ["main", "sdxl_shaped"]

log = logging.getLogger(__name__)


def _step(m: CD360Module, batch: dict) -> torch.Tensor:
    return m.loss_terms(batch)["loss"]


def _targets(make, batch: dict, batch_size: int) -> tuple[BenchTarget, list[BenchTarget]]:
    adam = lambda p: torch.optim.AdamW(p, lr=1e-4)  # noqa: E731
    ref = BenchTarget("frozen base step (token only)", make(use_pose=False), lambda: batch, _step, adam, batch_size)
    cands = [
        BenchTarget("pose blocks (memoised references)", make(), lambda: batch, _step, adam, batch_size),
        BenchTarget(
            "pose blocks (reference stream every step)",
            make(cache_references=False),
            lambda: batch,
            _step,
            adam,
            batch_size,
        ),
    ]
    return ref, cands


def sdxl_shaped(folder: Path) -> Path:
    """SDXL-base-1.0's architecture (UNet, both text encoders at their widths, VAE) with random weights, written
    with ``save_pretrained``: a stand-in for timing when the weights are not available."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from customdiffusion360.base import build_clip_tokenizer
    from customdiffusion360.datasets.synthetic import VOCAB

    tok = build_clip_tokenizer(folder / "tok", VOCAB, max_length=77)
    unet = UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
        cross_attention_dim=2048,
    )
    kw = dict(
        vocab_size=len(tok),
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    enc1 = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12, **kw))
    enc2 = CLIPTextModelWithProjection(
        CLIPTextConfig(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, projection_dim=1280, **kw)
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        sample_size=1024,
        scaling_factor=0.13025,
    )
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    StableDiffusionXLPipeline(
        vae=vae, text_encoder=enc1, text_encoder_2=enc2, tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=sched
    ).save_pretrained(folder / "sdxl")
    return folder / "sdxl"


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--sdxl", default=None, help="with --device cuda: an SDXL folder / hub id ('shaped' = random)")
    opts = p.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dm = CD360DataModule(root=str(Path(tmp) / "data"), generic_images=16, batch_size=4, p_reg=0.0, n_refs=4)
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))
        size = {"image_size": 32, "pose_transformers": (0, 2), "n_samples": 12}
        ref, cands = _targets(lambda **kw: CD360Module(**size, **kw), batch, 4)
        for res in compare(cands, ref, steps=opts.steps, warmup=opts.warmup, device=opts.device):  # reference once
            rows.append({"size": "tiny 32 px (CPU default)", **res})
        if opts.device.startswith("cuda") and opts.sdxl:
            src = str(sdxl_shaped(Path(tmp))) if opts.sdxl == "shaped" else opts.sdxl
            dm5 = CD360DataModule(
                root=str(Path(tmp) / "data512"), image_size=512, generic_images=4, batch_size=1, p_reg=0.0, n_refs=4
            )
            dm5.setup("fit")
            b5 = next(iter(dm5.train_dataloader()))
            kw5 = {
                "base": src,
                "base_kind": "sdxl",
                "image_size": 512,
                "pose_transformers": (0, 2, 4, 6, 8, 10),
                "n_samples": 24,
                "pe_points": 16,
                "pe_points_min_exp": -8,
                "pe_rays": 8,
                "pe_rays_min_exp": -4,
            }
            ref5, cands5 = _targets(lambda **kw: CD360Module(**kw5, **kw), b5, 1)
            res = compare(cands5[1:], ref5, steps=opts.steps, warmup=opts.warmup, device=opts.device)[0]
            rows.append({"size": f"SDXL 512 px ({opts.sdxl})", **res})
    path = write_bench("customdiffusion360", rows, opts.out, device=opts.device)
    for r in rows:
        print(
            f"{r['size']}: {r['candidate']['name']} vs {r['reference']['name']}: speed ratio {r['speed_ratio']:.2f}, "
            f"memory ratio {r['memory_ratio']:.2f}"
        )
    print(f"written to {path}")
    return {"rows": rows, "path": str(path)}


if __name__ == "__main__":
    run_script(main)
