"""Unit tests: shapes, gradients, the contrastive loss by hand, pooling, metrics, the official optimiser."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clfa.encoders import EncoderSizes
from clfa.layers import AttentionBlock, pool
from clfa.losses import clfa_loss, contrastive_alignment
from clfa.metrics import metrics_from_confusion
from clfa.model import CLFA, CLFAConfig
from clfa.optim import BertAdam, warmup_linear
from paperkit.testing import assert_all_params_get_grad

SIZES = EncoderSizes(vocab_size=40, text_hidden=16, text_layers=1, text_heads=2, image_size=16, patch_size=8,
                     image_hidden=16, image_layers=1, image_heads=2)  # fmt: skip


def _batch(b: int = 4, lt: int = 7, lk: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(b, lt, dtype=torch.long)
    mask[0, 4:] = 0
    ocr_mask = torch.ones(b, lk, dtype=torch.long)
    ocr_mask[1, 2:] = 0
    return {
        "input_ids": torch.randint(5, 40, (b, lt), generator=g),
        "attention_mask": mask,
        "pixel_values": torch.randn(b, 3, 16, 16, generator=g),
        "ocr_ids": torch.randint(5, 40, (b, lk), generator=g),
        "ocr_mask": ocr_mask,
        "self_bias": torch.rand(b, lt, lt, generator=g),
        "aux_bias": torch.rand(b, lt, lk, generator=g),
        "labels": torch.tensor([0, 1, 1, 0]),
        "teacher_text": torch.randn(b, 8, generator=g),
        "teacher_image": torch.randn(b, 8, generator=g),
    }


def _model(aggregator: str, use_ocr: bool = False, n_classes: int = 2) -> CLFA:
    torch.manual_seed(0)
    cfg = CLFAConfig(n_classes=n_classes, sizes=SIZES, proj_hidden=12, proj_dim=8, fusion_layers=2, fusion_heads=2,
                     aggregator=aggregator, use_ocr=use_ocr)  # fmt: skip
    return CLFA(cfg)


@pytest.mark.parametrize(("aggregator", "use_ocr"), [("cross", False), ("cross", True), ("coattention", False)])
def test_shapes_and_every_parameter_gets_a_gradient(aggregator: str, use_ocr: bool) -> None:
    model = _model(aggregator, use_ocr)
    b = _batch()
    kw = {"ocr_ids": b["ocr_ids"], "ocr_mask": b["ocr_mask"], "aux_bias": b["aux_bias"]} if use_ocr else {}
    out = model(b["input_ids"], b["attention_mask"], b["pixel_values"], self_bias=b["self_bias"], **kw)
    assert out["logits"].shape == (4, 2)
    assert out["text_tokens"].shape == (4, 7, 8)
    assert out["image_tokens"].shape == (4, 1 + 4, 8)  # CLS + (16/8)² patches
    losses = clfa_loss(out, b["labels"], b["teacher_text"], b["teacher_image"])
    assert all(torch.isfinite(v) for v in losses.values())
    assert_all_params_get_grad(model, losses["loss"])


def test_padding_does_not_change_the_prediction() -> None:
    """Masked text positions must not influence the (eval-mode) output: mean pooling + attention masks."""
    model = _model("cross").eval()
    b = _batch()
    ids = b["input_ids"].clone()
    ids2 = ids.clone()
    ids2[0, 4:] = 7  # change only padded positions of sample 0
    with torch.no_grad():
        a = model(ids, b["attention_mask"], b["pixel_values"])["logits"]
        c = model(ids2, b["attention_mask"], b["pixel_values"])["logits"]
    torch.testing.assert_close(a, c)


def test_contrastive_loss_by_hand() -> None:
    tokens = torch.tensor([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [5.0, 5.0]]])  # (B=2, L=2, D=2)
    mask = torch.tensor([[1, 1], [1, 0]])
    teacher = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    # pooled: [2, 0] -> [1, 0]; [0, 2] -> [0, 1]; teacher normalised: [1, 0], [1/√2, 1/√2]
    r = 1 / math.sqrt(2)
    s = torch.tensor([[1.0, r], [0.0, r]]) / 0.1
    rows = -(s[0, 0] - torch.logsumexp(s[0], 0)) - (s[1, 1] - torch.logsumexp(s[1], 0))
    cols = -(s[0, 0] - torch.logsumexp(s[:, 0], 0)) - (s[1, 1] - torch.logsumexp(s[:, 1], 0))
    expected = (rows + cols) / 4  # −1/(2B) Σ [row + column terms]
    torch.testing.assert_close(contrastive_alignment(tokens, mask, teacher, 0.1), expected)


def test_loss_alpha_zero_is_plain_cross_entropy() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    out = {"logits": logits, "text_tokens": torch.randn(2, 3, 4), "image_tokens": torch.randn(2, 5, 4),
           "text_mask": torch.ones(2, 3)}  # fmt: skip
    y = torch.tensor([0, 1])
    losses = clfa_loss(out, y, torch.randn(2, 4), torch.randn(2, 4), alpha=0.0)
    torch.testing.assert_close(losses["loss"], F.cross_entropy(logits, y))
    full = clfa_loss(out, y, torch.randn(2, 4), torch.randn(2, 4), alpha=1.0)
    torch.testing.assert_close(full["loss"], full["ce"] + full["l_img"] + full["l_txt"])


def test_attention_bias_and_mask() -> None:
    torch.manual_seed(0)
    block = AttentionBlock(8, 2, dropout=0.0).eval()
    x, ctx = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0]])
    ctx2 = ctx.clone()
    ctx2[0, 2:] = 100.0
    torch.testing.assert_close(block(x, ctx, mask), block(x, ctx2, mask))
    assert not torch.allclose(block(x, ctx, mask), block(x, ctx, mask, bias=torch.randn(1, 3, 4) * 5))


def test_pooling() -> None:
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert pool(x, m, "mean").item() == 2.0
    assert pool(x, m, "max").item() == 3.0
    assert pool(x, m, "cls").item() == 1.0


def test_metrics_from_confusion_by_hand() -> None:
    cm = torch.tensor([[5, 1], [2, 2]])  # rows true, cols predicted
    m = metrics_from_confusion(cm)
    assert m["acc"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(0.5)
    f1_pos, f1_neg = 2 * (2 / 3 * 0.5) / (2 / 3 + 0.5), 2 * (5 / 7 * 5 / 6) / (5 / 7 + 5 / 6)
    assert m["f1"] == pytest.approx(f1_pos)
    assert m["macro_f1"] == pytest.approx((f1_pos + f1_neg) / 2)
    assert m["weighted_f1"] == pytest.approx((6 * f1_neg + 4 * f1_pos) / 10)


def test_warmup_linear() -> None:
    assert warmup_linear(0.0, 0.1) == 0.0
    assert warmup_linear(0.05, 0.1) == pytest.approx(0.5)
    assert warmup_linear(0.5, 0.1) == pytest.approx(0.5)
    assert warmup_linear(1.0, 0.1) == 0.0


def test_bertadam_has_no_bias_correction_and_clips_per_tensor() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, 0.0]))
    opt = BertAdam([p], lr=0.1, weight_decay=0.0, max_grad_norm=1.0)
    p.grad = torch.tensor([3.0, 4.0])  # norm 5 -> clipped to [0.6, 0.8]
    opt.step()
    g = torch.tensor([0.6, 0.8])
    m, v = 0.1 * g, 0.001 * g**2
    torch.testing.assert_close(p.data, torch.tensor([1.0, 0.0]) - 0.1 * m / (v.sqrt() + 1e-6), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("form", ["official", "lu2016"])
def test_coattention_matches_its_formula_and_ignores_padding(form: str) -> None:
    """Official (CLFA mymodel.py): C = Q W_b Vᵀ without tanh, W_s without bias; lu2016: tanh(C) and a bias."""
    from clfa.layers import CoAttention

    torch.manual_seed(0)
    co = CoAttention(6, 4, dropout=0.0, form=form).eval()
    q, v = torch.randn(2, 5, 6), torch.randn(2, 3, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    c = torch.einsum("bxe,bye->bxy", co.w_b(q), v)
    c = (torch.tanh(c) if form == "lu2016" else c) * mask[:, :, None]  # padded text rows masked (official: not)
    h_v = torch.tanh(co.w_v(v) + torch.einsum("bxk,bxy->byk", co.w_q(q), c))
    h_q = torch.tanh(co.w_q(q) + torch.einsum("byk,bxy->bxk", co.w_v(v), c))
    a_v = co.w_hv(h_v).squeeze(-1).softmax(-1)
    a_q = (co.w_hq(h_q).squeeze(-1) + (1 - mask) * -1e4).softmax(-1)
    expected = torch.tanh(co.w_s(torch.einsum("bx,bxd->bd", a_v, v) + torch.einsum("by,byd->bd", a_q, q)))
    torch.testing.assert_close(co(q, mask, v), expected)
    assert (co.w_s.bias is None) == (form == "official")
    q2 = q.clone()
    q2[0, 3:] = 100.0  # padded positions: any content gives the same output
    torch.testing.assert_close(co(q2, mask, v)[0], co(q, mask, v)[0])
