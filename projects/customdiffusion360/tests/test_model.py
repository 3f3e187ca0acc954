"""The pose-conditioned UNet (model.py, base.py, losses.py): identity at initialisation, what trains, the delta file,
the new token, configuration errors and the losses against values computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from customdiffusion360.base import TinyBaseConfig, build_tiny_base
from customdiffusion360.data import CD360DataModule
from customdiffusion360.datasets.synthetic import VOCAB
from customdiffusion360.losses import background_loss, masked_diffusion_loss, rgb_loss, silhouette_loss
from customdiffusion360.model import CustomDiffusion360, PoseConfig, load_delta, save_delta
from customdiffusion360.module import CD360Module
from customdiffusion360.nerf import NeRFOutput

POSE = dict(pose_transformers=[3, 5], n_samples=6, pe_points=2, pe_points_min_exp=-1, pe_rays=1, pe_rays_min_exp=0)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    dm = CD360DataModule(
        root=str(tmp_path_factory.mktemp("data")), generic_images=8, batch_size=3, p_reg=0.0, p_text_drop=0.0
    )
    dm.setup("fit")
    torch.manual_seed(0)
    return next(iter(dm.train_dataloader()))


def _module(**kw) -> CD360Module:
    torch.manual_seed(0)
    return CD360Module(**{**POSE, **kw})


def test_output_equals_the_frozen_base_exactly_at_initialisation(batch: dict) -> None:
    m = _module().eval()
    b = batch["image"].shape[0]
    t = torch.tensor([999, 500, 20])
    x_t = torch.randn(b, 3, 32, 32)
    text = m.base.encode_text(list(batch["prompt"]), torch.device("cpu"))
    with torch.no_grad():
        eps, outs = m.model(x_t, t, text, m._cams(batch), m._cams(batch, "ref_"), m.reference_features(batch))
        ref = m.model.base_forward(x_t, t, text)
    assert len(outs) == 2 and all(o.features.abs().sum() > 0 for o in outs.values())  # F is rendered and non-zero
    assert torch.equal(eps, ref), "W = [I | 0] must make the customised model the base model"


def test_only_pose_modules_and_the_token_rows_train(batch: dict) -> None:
    m = _module().train()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(".pose_" in n or n.endswith("new_token_rows") for n in trainable)
    assert sum("new_token_rows" in n for n in trainable) == 1
    opt = m.configure_optimizers()
    for _ in range(2):  # after a step the zero-initialised decoder / fusion pass gradients to the MLPs
        opt.zero_grad()
        torch.manual_seed(0)
        m.loss_terms(batch)["loss"].backward()
        opt.step()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, missing
    frozen = [n for n, p in m.named_parameters() if not p.requires_grad and p.grad is not None]
    assert not frozen


def test_the_new_token_changes_only_its_own_embedding() -> None:
    base = build_tiny_base(TinyBaseConfig(), VOCAB, seed=0, init_token="cube")
    emb = base.token_embeddings[0]
    ids = base.tokenize(["photo of a <new1> cube"], torch.device("cpu"))[0][0]
    new_id = base.tokenizers[0].convert_tokens_to_ids("<new1>")
    assert new_id in ids.tolist() and new_id == emb.base_vocab
    cube = base.tokenizers[0]("cube", add_special_tokens=False).input_ids[0]
    torch.testing.assert_close(emb.new_token_rows[0], emb.base.weight[cube])  # initialised from the category word
    out = emb(ids)
    out.sum().backward()
    assert emb.new_token_rows.grad.abs().sum() > 0 and emb.base.weight.grad is None


def test_pose_config_checks_its_values() -> None:
    with pytest.raises(ValueError, match="pose_transformers"):
        PoseConfig(pose_transformers=[])
    with pytest.raises(ValueError, match="near"):
        PoseConfig(near=2.0, far=1.0)
    base = build_tiny_base(TinyBaseConfig(), VOCAB, seed=0)
    with pytest.raises(ValueError, match=r"transformers 0\.\.6"):
        CustomDiffusion360(base, PoseConfig(pose_transformers=[9]))


def test_poseattn_also_trains_the_pose_blocks_attention_at_a_lower_lr() -> None:
    m = _module(trainkeys="poseattn")
    names = {n for n, p in m.named_parameters() if p.requires_grad}
    assert any(".block.attn1." in n for n in names) and any(".block.attn2." in n for n in names)
    groups = m.configure_optimizers().param_groups
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(groups[0]["lr"] * 0.05)


def test_delta_file_round_trip_reproduces_the_outputs(batch: dict, tmp_path: Path) -> None:
    m = _module().eval()
    with torch.no_grad():
        for p in m.model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))  # a "trained" delta
    folder = tmp_path / "base"
    m.base.save_pretrained(folder)
    path = save_delta(m.model, tmp_path / "delta.safetensors", {"base_path": str(folder)}, {"up": batch["up"][0]})
    assert path.stat().st_size < 200_000, "the delta is small: pose modules + token rows"
    model, _meta, extra = load_delta(path)
    model.eval()
    torch.testing.assert_close(extra["up"], batch["up"][0])
    t = torch.tensor([700, 300, 100])
    x_t = torch.randn(3, 3, 32, 32)
    feats = m.reference_features(batch)
    with torch.no_grad():
        text = m.base.encode_text(list(batch["prompt"]), torch.device("cpu"))
        text2 = model.base.encode_text(list(batch["prompt"]), torch.device("cpu"))
        a = m.model(x_t, t, text, m._cams(batch), m._cams(batch, "ref_"), feats)[0]
        b = model(x_t, t, text2, m._cams(batch), m._cams(batch, "ref_"), feats)[0]
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="not a CustomDiffusion360 delta"):
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
        load_delta(tmp_path / "other.safetensors")


# --- losses by hand ---------------------------------------------------------------------------------------------------
def _out(opacity: list[float], rgb: list[list[float]], alpha: list[list[float]]) -> NeRFOutput:
    o = torch.tensor([opacity])
    z = torch.zeros(1, len(opacity), 2)
    return NeRFOutput(torch.zeros(1, len(opacity), 1), o, torch.tensor([rgb]), torch.tensor([alpha]), z, z)


def test_losses_by_hand() -> None:
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # (1, 1, 2, 2) -> rays (row-major): fg, bg, bg, bg
    out = _out(
        [1.4, 0.5, 0.0, 0.2], [[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 1]], [[0.5, 0.5], [0.2, 0.0], [0, 0], [0.1, 0.3]]
    )
    torch.testing.assert_close(silhouette_loss(out, mask), torch.tensor([(0 + 0.25 + 0 + 0.04) / 4]))
    torch.testing.assert_close(background_loss(out, mask), torch.tensor([(0.2 + 0.1 + 0.3) / 8]))
    image = torch.tensor([[[[0.5, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    torch.testing.assert_close(rgb_loss(out, image, mask), torch.tensor([0.25 / 3]))  # only the fg ray counts
    eps = torch.zeros(1, 1, 2, 2)
    eps_hat = torch.tensor([[[[2.0, 5.0], [5.0, 5.0]]]])
    torch.testing.assert_close(masked_diffusion_loss(eps_hat, eps, mask), torch.tensor([4.0]))
