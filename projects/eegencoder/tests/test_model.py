"""Unit tests of the pure-torch model (model.py) and the comparison zoo (baselines.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from eegencoder.baselines import ARCHS, build_model
from eegencoder.model import (
    ConvProjector,
    EEGEncoder,
    EEGEncoderConfig,
    RMSNorm,
    TransformerStream,
    apply_rope,
    rope_cache,
)
from paperkit.testing import assert_all_params_get_grad

SMALL = EEGEncoderConfig(n_chans=22, n_times=562, kernel_1=32, kernel_2=8, n_branches=2)


def test_paper_size_parameter_count() -> None:
    m = EEGEncoder(EEGEncoderConfig())
    assert sum(p.numel() for p in m.parameters()) == 174_612  # the paper's architecture: 18,272 + 5 x 31,268
    assert sum(p.numel() for p in m.projector.parameters()) == 18_272
    b = m.branches[0]
    assert sum(p.numel() for p in b.tcn.parameters()) == 16_640
    assert sum(p.numel() for p in b.transformer.parameters()) == 14_496
    assert m.cfg.n_tokens == 20


def test_projector_tokens_shape() -> None:
    tokens = ConvProjector(EEGEncoderConfig()).eval()(torch.randn(3, 22, 1125))
    assert tokens.shape == (3, 20, 32)  # (B, L, d)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_shapes_and_finite(arch: str) -> None:
    torch.manual_seed(0)
    m = build_model(arch, SMALL).eval()
    out = m(torch.randn(4, 22, 562))
    assert out.shape == (4, 4)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["eegencoder", "eegencoder_no_transformer"])
def test_every_parameter_gets_a_gradient(arch: str) -> None:
    torch.manual_seed(0)
    m = build_model(arch, SMALL).train()
    assert_all_params_get_grad(m, F.cross_entropy(m(torch.randn(8, 22, 562)), torch.arange(8) % 4))


def test_no_transformer_variant_has_no_transformer() -> None:
    m = build_model("eegencoder_no_transformer", SMALL)
    assert all(b.transformer is None for b in m.branches)
    assert not any("transformer" in n for n, _ in m.named_parameters())


def test_fast_depthwise_matches_grouped_conv() -> None:
    """The batched-matmul depthwise conv uses the same weights and gives the grouped conv's result."""
    torch.manual_seed(0)
    proj = ConvProjector(EEGEncoderConfig()).double()
    x = torch.randn(5, 16, 22, 300, dtype=torch.float64)  # (B, F1, C, T) after the temporal conv
    proj.fast_depthwise = True
    fast = proj._depthwise(x)
    proj.fast_depthwise = False
    ref = proj._depthwise(x)
    assert fast.shape == ref.shape == (5, 32, 300)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    # and the whole model agrees in float32 too
    cfg = dataclasses.replace(SMALL, fast_depthwise=True)
    torch.manual_seed(1)
    a = EEGEncoder(cfg).eval()
    b = EEGEncoder(dataclasses.replace(cfg, fast_depthwise=False)).eval()
    b.load_state_dict(a.state_dict())
    xx = torch.randn(3, 22, 562)
    torch.testing.assert_close(a(xx), b(xx), rtol=1e-5, atol=1e-5)


def test_rmsnorm_by_hand() -> None:
    norm = RMSNorm(3, eps=0.0)
    x = torch.tensor([[3.0, 4.0, 0.0]])
    expected = x / torch.sqrt(torch.tensor(25.0 / 3))
    torch.testing.assert_close(norm(x), expected)


def test_rope_scores_depend_only_on_relative_position() -> None:
    cos, sin = rope_cache(16, 8)
    q, k = torch.randn(8), torch.randn(8)
    qs = apply_rope(q.expand(1, 1, 16, 8), cos, sin)[0, 0]  # the same vector at every position
    ks = apply_rope(k.expand(1, 1, 16, 8), cos, sin)[0, 0]
    s = qs @ ks.T  # (16, 16)
    torch.testing.assert_close(s[3, 1], s[10, 8])
    torch.testing.assert_close(s[5, 5], s[0, 0])
    assert not torch.isclose(s[3, 1], s[3, 2])


@pytest.mark.parametrize("presoftmax", [False, True])
def test_transformer_stream_is_causal(presoftmax: bool) -> None:
    """Changing the last token must not change the earlier outputs (eval: no dropout)."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(EEGEncoderConfig(), presoftmax_attn_dropout=presoftmax)
    ts = TransformerStream(cfg).eval()
    x = torch.randn(2, 20, 32)
    y = x.clone()
    y[:, -1] += 5.0

    def hidden(z: torch.Tensor) -> torch.Tensor:
        for layer in ts.layers:
            z = layer(z, ts.cos, ts.sin)
        return z

    torch.testing.assert_close(hidden(x)[:, :-1], hidden(y)[:, :-1])
    assert not torch.allclose(hidden(x)[:, -1], hidden(y)[:, -1])


def test_presoftmax_dropout_unmasks_future_tokens_in_training() -> None:
    """The official quirk lets information flow from future tokens during training; the clean attention does not."""
    torch.manual_seed(0)
    x = torch.randn(64, 20, 32)
    y = x.clone()
    y[:, -1] += 5.0
    for presoftmax, leaks in ((False, False), (True, True)):
        cfg = dataclasses.replace(EEGEncoderConfig(), presoftmax_attn_dropout=presoftmax, dropout=0.0)
        layer = TransformerStream(cfg).layers[0].train()
        cos, sin = rope_cache(20, 16)
        torch.manual_seed(1)
        a = layer(x, cos, sin)[:, 0]
        torch.manual_seed(1)
        b = layer(y, cos, sin)[:, 0]
        assert (not torch.allclose(a, b)) == leaks


def test_clean_eval_is_deterministic_and_quirks_are_not() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 22, 562)
    clean = EEGEncoder(SMALL).eval()
    torch.testing.assert_close(clean(x), clean(x))
    noisy = EEGEncoder(dataclasses.replace(SMALL, eval_dropout=True)).eval()
    noisy.load_state_dict(clean.state_dict())
    assert not torch.allclose(noisy(x), noisy(x))


def test_double_softmax_returns_probabilities() -> None:
    torch.manual_seed(0)
    m = EEGEncoder(dataclasses.replace(SMALL, double_softmax=True)).eval()
    p = m(torch.randn(4, 22, 562))
    torch.testing.assert_close(p.sum(-1), torch.ones(4))
    assert (p >= 0).all()


def test_branch_logits_are_averaged() -> None:
    torch.manual_seed(0)
    m = EEGEncoder(SMALL).eval()
    out, branches = m(torch.randn(3, 22, 562), return_branches=True)
    assert branches.shape == (3, 2, 4)
    torch.testing.assert_close(out, branches.mean(1))


def test_tcn_uses_only_the_last_step_causally() -> None:
    """The TCN vector is the last time step: with 20 tokens, the two valid convs (kernel 4) and the causal block
    (dilation 2, two convs) see tokens 1..19, so the first token cannot change it (a mean over time would)."""
    torch.manual_seed(0)
    tcn = EEGEncoder(EEGEncoderConfig()).branches[0].tcn.eval()
    x = torch.randn(2, 20, 32)
    assert tcn(x).shape == (2, 32)
    first, second, last = x.clone(), x.clone(), x.clone()
    first[:, 0] += 5.0
    second[:, 1] += 5.0
    last[:, -1] += 5.0
    torch.testing.assert_close(tcn(first), tcn(x))  # outside the receptive field of the last step
    assert not torch.allclose(tcn(second), tcn(x))  # the edge of the receptive field
    assert not torch.allclose(tcn(last), tcn(x))


def test_tcn_stem_activation_is_silu() -> None:
    """The two valid convs use SiLU (the dilated block ReLU): outputs go negative, but never below SiLU's minimum."""
    torch.manual_seed(0)
    tcn = EEGEncoder(EEGEncoderConfig()).branches[0].tcn.eval()
    y = tcn.stem(torch.randn(64, 32, 20))  # (B, d, L - 6)
    silu_min = -0.27846454
    assert float(y.min()) < -0.2  # ReLU would give >= 0
    assert float(y.min()) >= silu_min - 1e-6  # ELU/identity would go lower


def test_l2_groups_cover_convs_and_linears() -> None:
    m = EEGEncoder(EEGEncoderConfig())
    g = m.l2_groups()
    n_conv = sum(isinstance(x, torch.nn.Conv1d | torch.nn.Conv2d) for x in m.modules())
    assert len(g["conv"]) == n_conv == 3 + 5 * 4
    assert len(g["transformer"]) == 5 * (2 * 7 + 1)  # q,k,v,o,gate,up,down per layer + head, per branch


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="divisible"):
        EEGEncoderConfig(n_heads=3)
    with pytest.raises(ValueError, match="too few"):
        EEGEncoderConfig(n_times=200)


def test_braindecode_style_construction_matches_the_config_and_runs() -> None:
    """EEGEncoder(n_chans, n_outputs, n_times, sfreq): the keywords braindecode / MOABB pipelines pass to a model."""
    torch.manual_seed(0)
    a = EEGEncoder(n_chans=22, n_outputs=4, n_times=1125, sfreq=250, n_branches=2).eval()
    torch.manual_seed(0)
    b = EEGEncoder(EEGEncoderConfig(n_branches=2)).eval()  # the paper's sizes at 250 Hz
    x = torch.randn(2, 22, 1125)
    assert a.cfg == b.cfg and torch.equal(a(x), b(x))
    # 100 Hz, a 0.5 s window given in seconds, channels from MNE-style chs_info: kernels keep their duration
    c = EEGEncoder(chs_info=[{"ch_name": f"c{i}"} for i in range(28)], n_outputs=2, input_window_seconds=0.5,
                   sfreq=100, n_branches=2, pool_1=2, pool_2=2)  # fmt: skip
    assert (c.cfg.n_chans, c.cfg.n_times, c.cfg.n_classes, c.cfg.kernel_1, c.cfg.kernel_2) == (28, 50, 2, 26, 6)
    assert c(torch.randn(3, 28, 50)).shape == (3, 2)
    with pytest.raises(TypeError, match="unknown option"):
        EEGEncoder(n_chans=22, n_outputs=4, n_times=1125, n_filters=8)
    with pytest.raises(TypeError, match="not both"):
        EEGEncoder(EEGEncoderConfig(), n_chans=22)
