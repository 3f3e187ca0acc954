"""The paper path without a download: a tiny SDXL-shaped pipeline (UNet with text-time added conditioning, CLIP +
CLIP-with-projection text encoders, AutoencoderKL) saved with diffusers' ``save_pretrained`` to tmp_path and loaded
through the same code path as the hub name ``stabilityai/stable-diffusion-xl-base-1.0``; pose blocks inserted; one
training step; the identity at initialisation; the delta file loads back onto the saved pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from customdiffusion360.base import build_clip_tokenizer
from customdiffusion360.data import CD360DataModule
from customdiffusion360.datasets.synthetic import VOCAB
from customdiffusion360.model import load_delta, save_delta
from customdiffusion360.module import CD360Module


def _tiny_sdxl(folder: Path) -> Path:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    build_clip_tokenizer(folder / "tok", VOCAB, max_length=16)
    tok = CLIPTokenizer.from_pretrained(folder / "tok")
    cfg = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        projection_dim=16,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        transformer_layers_per_block=(1, 2),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 16,
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8,
        sample_size=32,
    )
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(cfg),
        text_encoder_2=CLIPTextModelWithProjection(cfg),
        tokenizer=tok,
        tokenizer_2=tok,
        unet=unet,
        scheduler=sched,
    )
    pipe.save_pretrained(folder / "sdxl")
    return folder / "sdxl"


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_sdxl(tmp_path_factory.mktemp("sdxl"))


def test_sdxl_pipeline_loads_and_trains_one_step(sdxl: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = CD360Module(
        base=str(sdxl),
        base_kind="sdxl",
        image_size=32,
        pose_transformers=(1, 2),
        pose_every=1,
        n_samples=4,
        init_token="cube",
    )
    assert m.base.kind == "sdxl" and m.base.latent_size == 16 and len(m.base.text_encoders) == 2
    assert len(m.model.pose_blocks) == 4  # transformer 1 (2 layers) + the mid block's 2 layers
    dm = CD360DataModule(root=str(tmp_path), image_size=32, generic_images=4, batch_size=2, p_reg=0.0, n_refs=2)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    m.eval()
    b = batch["image"].shape[0]
    x_t, t = torch.randn(b, 4, 16, 16), torch.tensor([900, 100])
    with torch.no_grad():
        text = m.base.encode_text(list(batch["prompt"]), torch.device("cpu"))
        assert text.context.shape == (2, 16, 32) and text.added["text_embeds"].shape == (2, 16)
        eps, _ = m.model(x_t, t, text, m._cams(batch), m._cams(batch, "ref_"), m.reference_features(batch))
        assert torch.equal(eps, m.model.base_forward(x_t, t, text))
    m.train()
    opt = m.configure_optimizers()
    before = {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if not p.requires_grad}
    terms = m.loss_terms(batch)
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    opt.step()
    changed = [n for n, p in m.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert any("new_token_rows" in n for n in changed) and any("pose_fusion" in n for n in changed)
    assert sum("new_token_rows" in n for n in before) == 2  # V* in both text encoders
    assert all(torch.equal(p, frozen[n]) for n, p in m.named_parameters() if n in frozen)
    # only the delta goes into the checkpoint, and it loads back onto the saved pipeline
    ckpt: dict = {"state_dict": m.state_dict()}
    m.on_save_checkpoint(ckpt)
    assert all("pose_" in k or "new_token_rows" in k or k == "base_ready" for k in ckpt["state_dict"])
    path = save_delta(m.model, tmp_path / "delta.safetensors", {"base_path": str(sdxl)})
    model, _meta, _extra = load_delta(path)
    for k, v in model.delta_state_dict().items():
        torch.testing.assert_close(v, m.model.delta_state_dict()[k])
