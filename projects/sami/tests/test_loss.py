"""The SAMI objective: hand-computed values and the invariants of the symmetric InfoNCE loss."""

from __future__ import annotations

import math

import pytest
import torch

from sami.model import build_sequences, mi_lower_bound, sami_loss


@pytest.mark.parametrize("c", [2, 3, 4])
def test_uniform_matrix_gives_log_c(c: int) -> None:
    out = sami_loss(torch.full((5, c, c), -3.7))
    for k in ("loss", "loss_row", "loss_col"):
        assert float(out[k]) == pytest.approx(math.log(c), abs=1e-6)


def test_strong_diagonal_gives_zero_and_wrong_diagonal_is_large() -> None:
    logp = torch.full((2, 3, 3), -50.0) + torch.eye(3) * 49.0
    assert float(sami_loss(logp)["loss"]) < 1e-6
    assert float(sami_loss(logp)["acc_row"]) == 1.0 and float(sami_loss(logp)["acc_col"]) == 1.0
    anti = logp.flip(-1)  # the largest entry off the diagonal
    assert float(sami_loss(anti)["loss"]) > 10


def test_hand_computed_2x2() -> None:
    # L = [[a, b], [c, d]]: row_0 = -log(e^a / (e^a + e^b)), col_0 = -log(e^a / (e^a + e^c)), ...
    a, b, c, d = -1.0, -2.0, -3.0, -0.5
    L = torch.tensor([[a, b], [c, d]])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731  softplus: -log sigmoid(-x)
    row = (sp(b - a) + sp(c - d)) / 2
    col = (sp(c - a) + sp(b - d)) / 2
    out = sami_loss(L)
    assert float(out["loss_row"]) == pytest.approx(row, abs=1e-6)
    assert float(out["loss_col"]) == pytest.approx(col, abs=1e-6)
    assert float(out["loss"]) == pytest.approx((row + col) / 2, abs=1e-6)


def test_transpose_swaps_row_and_column_terms_and_keeps_the_loss() -> None:
    g = torch.Generator().manual_seed(0)
    L = torch.randn(4, 3, 3, generator=g)
    out, out_t = sami_loss(L), sami_loss(L.transpose(-1, -2))
    torch.testing.assert_close(out["loss_row"], out_t["loss_col"])
    torch.testing.assert_close(out["loss_col"], out_t["loss_row"])
    torch.testing.assert_close(out["loss"], out_t["loss"])
    assert not torch.allclose(out["loss_row"], out["loss_col"])  # the two terms differ on a random matrix


def test_queries_are_never_mixed() -> None:
    g = torch.Generator().manual_seed(1)
    L = torch.randn(3, 2, 2, generator=g)
    per_query = torch.stack([sami_loss(L[b])["loss"] for b in range(3)])
    torch.testing.assert_close(sami_loss(L)["loss"], per_query.mean())


def test_mi_lower_bound_is_at_most_log_c_and_reaches_it() -> None:
    g = torch.Generator().manual_seed(2)
    S = torch.randn(50, 4, 4, generator=g) * 5
    assert (mi_lower_bound(S) <= math.log(4) + 1e-6).all()
    strong = torch.full((1, 4, 4), -100.0) + torch.eye(4) * 100
    assert float(mi_lower_bound(strong)) == pytest.approx(math.log(4), abs=1e-4)
    assert float(mi_lower_bound(torch.zeros(1, 4, 4))) == pytest.approx(0.0, abs=1e-6)
    # MI estimate = log C - the column term of the loss on the same (summed) matrix
    torch.testing.assert_close(mi_lower_bound(S).mean(), math.log(4) - sami_loss(S)["loss_col"])


def test_sequences_are_row_major_and_masks_keep_only_the_response() -> None:
    prompts = [[10, 11, 12], [20, 21]]
    responses = [[30], [40, 41, 42]]
    pad = eos = 0  # pad = eos, as in the official code: the appended EOS must still be scored
    ids, att, resp = build_sequences(prompts, responses, pad, eos)
    assert ids.shape == (4, 7)
    expected = [[10, 11, 12, 30, 0], [10, 11, 12, 40, 41, 42, 0], [20, 21, 30, 0], [20, 21, 40, 41, 42, 0]]
    for k, seq in enumerate(expected):  # index i * C + j = prompt_i + response_j (+ EOS)
        assert ids[k, : len(seq)].tolist() == seq
        assert att[k].tolist() == [1] * len(seq) + [0] * (7 - len(seq))
    # response mask: zero on the prompt and on padding, one on the response tokens and the EOS
    assert resp[0].tolist() == [False] * 3 + [True, True] + [False] * 2
    assert resp[3].tolist() == [False] * 2 + [True] * 4 + [False]
    # after the one-token shift the first response token is a scored target
    assert resp[0, 1:].tolist().index(True) == 2  # logits at position 2 (last prompt token) score token 3


def test_sequences_without_eos_and_the_context_limit() -> None:
    ids, _, resp = build_sequences([[1, 2]], [[3, 4]], pad_id=0, eos_id=None)
    assert ids.tolist() == [[1, 2, 3, 4]] and resp.tolist() == [[False, False, True, True]]
    with pytest.raises(ValueError, match="longer than max_length=3"):
        build_sequences([[1, 2]], [[3, 4]], pad_id=0, eos_id=None, max_length=3)
