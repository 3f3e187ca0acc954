"""Model: shapes per stage, the inference model holds no LIO parameter, pretrained loading through the library code
path from a file (no network), the warm-up gradient scaling, the official-code options."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lio.backbones import build_backbone
from lio.model import LIO, LIOConfig
from paperkit.errors import DataNotFoundError
from paperkit.testing import assert_all_params_get_grad

TINY = {"tiny_widths": [8, 8, 16, 16], "tiny_stem_stride": 2, "tiny_strides": [1, 2, 2, 1]}


def _batch(n_groups: int = 3, k: int = 3, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_groups * (1 + k), 3, size, size, generator=g)
    return x, torch.arange(n_groups).repeat_interleave(1 + k)


@pytest.mark.parametrize(("stage", "pool", "grid"), [(3, 1, 4), (3, 2, 2), (2, 1, 4), (1, 1, 8)])
def test_head_shapes_at_each_stage(stage: int, pool: int, grid: int) -> None:
    model = LIO(LIOConfig(n_classes=3, stage=stage, head_pool=pool, **TINY))
    x, _ = _batch()
    out = model.head_outputs(model.net.features(x))
    c = model.net.backbone.channels[stage]
    assert out["f"].shape == (12, c, grid, grid) and out["m"].shape == (12, grid, grid)
    assert out["h"].shape == (12, c // 2, grid, grid)
    assert model(x).shape == (12, 3)


@pytest.mark.parametrize("options", [{}, {"oel_grouping": "official", "detach_pseudo_mask": False,
                                          "scl_centre": "structure", "scl_distance_norm": "N",
                                          "scl_reduction": "official"}])  # fmt: skip
def test_every_parameter_gets_a_gradient_paper_and_official_options(options: dict) -> None:
    model = LIO(LIOConfig(n_classes=3, **TINY, **options))
    x, y = _batch()
    terms, _ = model.objective(x, y, group_size=4)
    assert set(terms) == {"ce", "oel", "scl", "loss"}
    torch.testing.assert_close(terms["loss"], terms["ce"] + 0.1 * terms["oel"] + 0.1 * terms["scl"])  # Eq. 10
    assert_all_params_get_grad(model, terms["loss"])


def test_detached_pseudo_mask_sends_oel_gradient_only_through_the_mask_head() -> None:
    x, _ = _batch()
    grads = {}
    for detach in (True, False):
        torch.manual_seed(0)
        model = LIO(LIOConfig(n_classes=3, use_scl=False, detach_pseudo_mask=detach, **TINY))
        f = model.head_outputs(model.net.features(x))["f"]
        from lio.losses import group_indices, pseudo_masks

        target = pseudo_masks(f.detach() if detach else f, group_indices(3, 4))
        grads[detach] = torch.autograd.grad(target.sum(), f, allow_unused=True)[0] if not detach else None
    assert grads[True] is None and grads[False] is not None and grads[False].abs().sum() > 0


def test_warmup_weight_scales_only_the_head_gradient_into_the_backbone() -> None:
    x, y = _batch()

    def backbone_grad(weight: float, use_heads: bool) -> torch.Tensor:
        torch.manual_seed(0)
        model = LIO(LIOConfig(n_classes=3, use_oel=use_heads, use_scl=use_heads, **TINY))
        terms, _ = model.objective(x, y, 4, weight=weight)
        terms["loss"].backward()
        return model.net.backbone.stem[0].weight.grad.clone()

    ce_only = backbone_grad(1.0, use_heads=False)
    torch.testing.assert_close(backbone_grad(0.0, use_heads=True), ce_only)  # warm-up: CE alone trains the backbone
    assert not torch.allclose(backbone_grad(1.0, use_heads=True), ce_only)


def test_export_is_the_plain_classifier_without_any_lio_parameter() -> None:
    model = LIO(LIOConfig(n_classes=3, **TINY)).eval()
    exported = model.export()
    names = [n for n, _ in exported.named_parameters()]
    assert names and not any(n.startswith("heads") or "mask" in n or "coord" in n or "structure" in n for n in names)
    n_backbone = sum(p.numel() for p in model.net.backbone.parameters()) + sum(
        p.numel() for p in model.net.fc.parameters()
    )
    assert sum(p.numel() for p in exported.parameters()) == n_backbone
    assert sum(p.numel() for p in model.heads.parameters()) > 0
    x, _ = _batch()
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x))


def test_objective_refuses_ungrouped_batches() -> None:
    model = LIO(LIOConfig(n_classes=3, **TINY))
    x, y = _batch()
    with pytest.raises(ValueError, match="groups"):
        model.objective(x, y, group_size=1)
    plain = LIO(LIOConfig(n_classes=3, use_oel=False, use_scl=False, **TINY))
    terms, _ = plain.objective(x, y, group_size=1)
    assert set(terms) == {"ce", "loss"}


def test_torchvision_weights_file_loads_through_the_imagenet_code_path(tmp_path: Path) -> None:
    import torchvision

    src = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        src.layer4[1].conv2.weight.normal_()
    path = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), path)
    bb = build_backbone("resnet18", str(path))
    torch.testing.assert_close(bb.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    assert bb.channels == {1: 128, 2: 256, 3: 512}
    fresh = build_backbone("resnet18", None)
    assert not torch.allclose(fresh.layer4[1].conv2.weight, src.layer4[1].conv2.weight)


def test_timm_weights_file_loads_through_timms_pretrained_loader(tmp_path: Path) -> None:
    import timm

    src = timm.create_model("test_resnet", pretrained=False)
    path = tmp_path / "test_resnet.pth"
    torch.save(src.state_dict(), path)
    model = LIO(LIOConfig(n_classes=4, backbone="timm:test_resnet", pretrained=str(path)))
    got = dict(model.net.backbone.net.named_parameters())
    want = dict(src.named_parameters())
    shared = [k for k in got if k in want]
    assert len(shared) > 10
    for k in shared:
        torch.testing.assert_close(got[k], want[k])
    out = model.head_outputs(model.net.features(torch.randn(2, 3, 128, 128)))
    assert out["m"].shape == (2, 2, 2)  # stage 3 at 1/32, pooled by 2


def test_torchvision_features_backbone_and_a_missing_weights_file(tmp_path: Path) -> None:
    bb = build_backbone("mobilenet_v3_small", None)
    maps = bb(torch.randn(1, 3, 64, 64))
    assert [m.shape[-1] for m in maps.values()] == [8, 4, 2] and maps[3].shape[1] == bb.channels[3]
    with pytest.raises(DataNotFoundError, match=r"nope.pth"):
        build_backbone("resnet18", str(tmp_path / "nope.pth"))


@pytest.mark.paper
def test_resnet50_paper_config_shapes() -> None:
    """torchvision ResNet-50 (random init here), 448 px: conv5 14 x 14 pooled to 7 x 7 (LIO/ResNet-50 7x7)."""
    model = LIO(LIOConfig(n_classes=200, backbone="resnet50"))
    out = model.head_outputs(model.net.features(torch.randn(1, 3, 448, 448)))
    assert out["f"].shape == (1, 2048, 7, 7) and out["h"].shape == (1, 1024, 7, 7)


def test_multi_stage_adds_every_stages_terms_and_leaves_the_primary_stage_unchanged() -> None:
    """Multi-stage LIO: heads at stages 3, 2 and 1 at once; each stage adds its own OEL and SCL terms (Eq. 10 per
    stage), the primary stage's terms are those of the single-stage model, and the inference model is unchanged."""
    x, y = _batch()
    torch.manual_seed(0)
    single = LIO(LIOConfig(n_classes=3, **TINY))
    torch.manual_seed(0)
    multi = LIO(LIOConfig(n_classes=3, extra_stages=[2, 1], **TINY))
    t1, _ = single.objective(x, y, 4)
    t3, _ = multi.objective(x, y, 4)
    assert set(t3) == {"ce", "oel", "scl", "oel_s2", "scl_s2", "oel_s1", "scl_s1", "loss"}
    for k in ("ce", "oel", "scl"):
        torch.testing.assert_close(t3[k], t1[k])
    heads = sum(v for k, v in t3.items() if k.startswith(("oel", "scl")))
    torch.testing.assert_close(t3["loss"], t3["ce"] + 0.1 * heads)
    maps = multi.net.features(x)
    assert multi.head_outputs(maps, 1)["m"].shape[-1] == 2 * multi.head_outputs(maps)["m"].shape[-1]  # finer grid
    assert_all_params_get_grad(multi, t3["loss"])
    assert len(multi.head_parameters()) == 3 * len(list(single.heads.parameters()))
    assert all(n.startswith(("backbone.", "fc.")) for n, _ in multi.export().named_parameters())
    torch.testing.assert_close(multi.export()(x), multi.eval()(x))


def test_multi_stage_heads_are_optimised_and_stages_are_checked() -> None:
    from lio.module import LIOModule

    module = LIOModule(n_classes=3, extra_stages=[2], tiny_widths=[8, 8, 16, 16], tiny_strides=[1, 2, 2, 1])
    opt = module.configure_optimizers()["optimizer"]
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(module.model.parameters()))
    for bad in ([3], [4], [1, 1]):
        with pytest.raises(ValueError, match="extra_stages"):
            LIOConfig(extra_stages=bad)
