"""The Diff-ST denoiser: shapes in the embedded and the paper configuration, the pieces the paper defines (gene graph,
tile curriculum, disentangling, modulation, aliasing flag), and one-batch learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from diffst.model import DiffSTConfig, DiffSTUNet
from diffst.module import DiffSTModule, curriculum_ratio
from diffst.official import adjacency


def _inputs(cfg: DiffSTConfig, b: int = 2, seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cfg.genes, cfg.hr_size, cfg.hr_size, generator=g)
    y = torch.rand(b, cfg.genes, cfg.lr_size, cfg.lr_size, generator=g)
    img = torch.rand(b, 3, cfg.hr_size, cfg.hr_size, generator=g)
    tiles = torch.rand(b, cfg.n_tiles, 3, cfg.tile_size, cfg.tile_size, generator=g)
    return x, torch.tensor([5, 900])[:b], y, img, tiles, torch.ones(cfg.genes, cfg.genes)


def _randomise(net: torch.nn.Module) -> None:
    """Zero-initialised output convs hide every path: give all parameters random values."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_forward_shapes_embedded_config() -> None:
    cfg = DiffSTConfig()
    out = DiffSTUNet(cfg)(*_inputs(cfg))
    assert out.out.shape == (2, 2 * cfg.genes, cfg.hr_size, cfg.hr_size)
    assert out.com_wsi.shape == (2, cfg.channels // 2, cfg.bottleneck, cfg.bottleneck)


def test_forward_shapes_paper_config() -> None:
    """26 -> 256, 25 genes, 256 tiles of 16 x 16: the bottleneck is 64 x 64 and modulation parts hold 1024 tokens."""
    cfg = DiffSTConfig(genes=25, lr_size=26, hr_size=256, tile_size=16, n_tiles=256, channels=32, norm_groups=32)
    net = DiffSTUNet(cfg)
    assert net.modulation.lin_s.in_features == 1024 and net.gcn.weight.in_features == 26 * 26
    with torch.no_grad():
        out = net(*_inputs(cfg, b=1))
    assert out.out.shape == (1, 50, 256, 256)


def test_x_and_wsi_encoders_share_resblocks_and_spot_encoder_is_independent() -> None:
    net = DiffSTUNet(DiffSTConfig())
    for i in (0, 2, 4):
        assert net.enc_wsi.blocks[i] is net.enc_x.blocks[i]
        assert net.enc_spot.blocks[i] is not net.enc_x.blocks[i]
    assert net.enc_wsi.blocks[1] is not net.enc_x.blocks[1]


def test_gene_graph_adjacency_is_symmetric() -> None:
    totals = np.array([10.0, 5.0, 1.0, 20.0])
    a = adjacency("ratio_max", totals=totals)
    np.testing.assert_allclose(a, a.T)
    assert (a >= 1 - 1e-6).all() and np.isclose(a[0, 2], 10.0) and np.isclose(a[2, 0], 10.0)
    rng = np.random.default_rng(0)
    base = rng.random((5, 1, 8, 8))
    maps = np.concatenate([base, base + 0.01 * rng.random((5, 1, 8, 8)), rng.random((5, 2, 8, 8))], axis=1)
    p = adjacency("pearson_threshold", maps=maps, threshold=0.5)
    np.testing.assert_allclose(p, p.T, atol=1e-6)
    assert p[0, 1] > 0 and p[0, 2] == 0  # co-expressed genes are linked, unrelated ones are not


def test_gene_graph_changes_the_output_through_the_adjacency() -> None:
    cfg = DiffSTConfig()
    net = DiffSTUNet(cfg)
    _randomise(net)
    x, t, y, img, tiles, adj = _inputs(cfg)
    with torch.no_grad():
        a = net(x, t, y, img, tiles, adj).out
        b = net(x, t, y, img, tiles, adj * 3).out
    assert not torch.allclose(a, b)


def test_curriculum_uses_only_the_first_ratio_of_the_sorted_tiles() -> None:
    cfg = DiffSTConfig(attn_mix=1.0)  # the attention output alone, so that the cell branch is visible
    net = DiffSTUNet(cfg).eval()
    _randomise(net)
    x, t, y, img, tiles, adj = _inputs(cfg)
    late = tiles.clone()
    late[:, cfg.n_tiles // 4 :] = torch.rand_like(late[:, cfg.n_tiles // 4 :])  # change tiles past the first quarter
    with torch.no_grad():
        assert torch.equal(net._cells(tiles, 0.25), net._cells(late, 0.25))
        assert not torch.allclose(net._cells(tiles, 1.0), net._cells(late, 1.0))
        q1, q2 = net(x, t, y, img, tiles, adj, 0.25).out, net(x, t, y, img, late, adj, 0.25).out
        f1, f2 = net(x, t, y, img, tiles, adj, 1.0).out, net(x, t, y, img, late, adj, 1.0).out
    assert torch.equal(q1, q2)
    assert not torch.equal(f1, f2)


def test_module_curriculum_schedule() -> None:
    ratios = [curriculum_ratio(step / 1000, [0.025, 0.05], [0.25, 0.5, 1.0]) for step in (0, 24, 25, 49, 50, 999)]
    assert ratios == [0.25, 0.25, 0.5, 0.5, 1.0, 1.0]
    m = DiffSTModule().eval()
    assert m.ratio() == 1.0


def test_official_alias_flag_changes_the_modulation_mix() -> None:
    cfg = DiffSTConfig()
    net = DiffSTUNet(cfg)
    _randomise(net)
    alias = DiffSTUNet(dataclasses.replace(cfg, official_alias=True))
    alias.load_state_dict(net.state_dict())
    inputs = _inputs(cfg)
    with torch.no_grad():
        a, b = net(*inputs), alias(*inputs)
    assert not torch.allclose(a.out, b.out)
    # with aliasing, L_dis sees the modulated distinct maps
    assert not torch.allclose(a.dist_wsi, b.dist_wsi)


def test_bare_denoiser_has_no_histology_branches_and_ignores_the_image() -> None:
    cfg = DiffSTConfig(use_histology=False)
    net = DiffSTUNet(cfg)
    assert not hasattr(net, "enc_wsi") and not hasattr(net, "modulation")
    _randomise(net)
    x, t, y, img, tiles, adj = _inputs(cfg)
    with torch.no_grad():
        torch.testing.assert_close(net(x, t, y, img, tiles, adj).out, net(x, t, y, img * 0, tiles * 0, adj).out)


def test_histology_reaches_the_output_in_diffst() -> None:
    cfg = DiffSTConfig()
    net = DiffSTUNet(cfg)
    _randomise(net)
    x, t, y, img, tiles, adj = _inputs(cfg)
    with torch.no_grad():
        assert not torch.allclose(net(x, t, y, img, tiles, adj).out, net(x, t, y, img.flip(-1), tiles, adj).out)


def _batch(b: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    hr = torch.nn.functional.interpolate(torch.rand(b, 8, 4, 4, generator=g), scale_factor=8.0, mode="bilinear")
    return {
        "hr": hr,
        "lr": torch.nn.functional.avg_pool2d(hr, 4),
        "image": torch.rand(b, 3, 32, 32, generator=g),
        "tiles": torch.rand(b, 16, 3, 8, 8, generator=g),
        "index": torch.arange(b),
        "has_hr": torch.ones(b, dtype=torch.bool),
    }


def test_disentangling_loss_is_finite_and_decreases_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    m = DiffSTModule(channels=16, norm_groups=4)
    batch = _batch()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    values = []
    for _ in range(15):
        out = m._net(m.to_target(batch["hr"]), torch.full((4,), 10), batch)
        loss = m.disentangle_loss(out)
        assert torch.isfinite(loss)
        values.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert values[-1] < 0.7 * values[0], values


@pytest.mark.parametrize("arch", ["diffst", "regression"])
def test_overfits_one_batch(arch: str) -> None:
    """The objective at a fixed (t, noise) falls well below its start after a few dozen steps on one batch."""
    torch.manual_seed(0)
    m = DiffSTModule(arch=arch, channels=16, norm_groups=4)
    batch = _batch()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        torch.manual_seed(1)  # the same t and noise every step
        loss = m.loss_terms(batch)["loss"]
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.8 * losses[0], losses[::8]
