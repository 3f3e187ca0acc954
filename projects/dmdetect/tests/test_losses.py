"""The paper's objective (Sec. 3) against hand-computed values and its stated invariants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dmdetect.losses import auc_loss, cvar, cvar_threshold, detector_loss


def _ru_objective(losses: torch.Tensor, lam: torch.Tensor, alpha: float) -> torch.Tensor:
    return lam + (losses - lam).clamp_min(0).mean() / alpha


@pytest.mark.parametrize("alpha", [0.8, 0.5, 0.3, 0.25, 0.1])
@pytest.mark.parametrize("n", [10, 17, 64])
def test_cvar_threshold_is_the_empirical_quantile_and_minimises_the_objective(alpha: float, n: int) -> None:
    losses = torch.rand(n, generator=torch.Generator().manual_seed(n)) * 3
    lam = cvar_threshold(losses, alpha)
    # the (1 - alpha)-quantile: at most alpha * n losses strictly above it, at least alpha * n at or above it
    above, at_or_above = int((losses > lam).sum()), int((losses >= lam).sum())
    assert above <= alpha * n + 1e-6 <= at_or_above + 1e-6
    # and the minimiser of the Rockafellar-Uryasev objective (dense grid; the official code uses fminbound)
    grid = torch.linspace(float(losses.min()) - 1, float(losses.max()), 20001)
    best = min(float(_ru_objective(losses, g, alpha)) for g in grid)
    assert float(_ru_objective(losses, lam, alpha)) <= best + 1e-6
    # CVaR = mean of the alpha n largest losses when alpha n is an integer
    k = alpha * n
    if abs(k - round(k)) < 1e-9:
        top = losses.sort(descending=True).values[: round(k)].mean()
        torch.testing.assert_close(cvar(losses, alpha), top)


def test_cvar_with_alpha_one_is_erm() -> None:
    logits = torch.randn(33, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y = (torch.arange(33) % 4 != 0).float()
    ell = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    torch.testing.assert_close(cvar(ell, 1.0), ell.mean())
    terms = detector_loss(logits, y, gamma=1.0, alpha=1.0)
    torch.testing.assert_close(terms["loss"], F.binary_cross_entropy_with_logits(logits, y))
    assert "auc" not in terms


def test_cvar_gradient_is_the_mean_over_the_worst_samples() -> None:
    losses = torch.tensor([0.1, 2.0, 0.5, 3.0, 1.0, 0.2, 0.7, 1.5, 0.05, 2.5], requires_grad=True)
    cvar(losses, 0.3).backward()
    expected = torch.zeros(10)
    expected[[3, 9, 1]] = 1 / (0.3 * 10)  # the 3 largest losses, each 1 / (alpha n)
    torch.testing.assert_close(losses.grad, expected)


def test_auc_loss_on_hand_made_scores() -> None:
    s = torch.tensor([2.0, 0.5, 0.0, 0.3])  # generated: 2.0, 0.5; real: 0.0, 0.3
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    # pairs (2.0, 0.0) -> max(0, 0.6 - 2.0) = 0; (2.0, 0.3) -> 0; (0.5, 0.0) -> 0.1; (0.5, 0.3) -> 0.4
    expected = (0.1**2 + 0.4**2) / 4
    torch.testing.assert_close(auc_loss(s, y, eta=0.6, p=2), torch.tensor(expected))
    sig = torch.sigmoid(s)
    by_hand = sum(max(0.0, 0.6 - float(sig[i] - sig[j])) ** 2 for i in (0, 1) for j in (2, 3)) / 4
    torch.testing.assert_close(auc_loss(s, y, on="sigmoid"), torch.tensor(by_hand))


def test_auc_loss_without_a_class_is_zero_not_nan() -> None:
    s = torch.randn(5, requires_grad=True)
    out = auc_loss(s, torch.ones(5))
    assert float(out) == 0.0
    out.backward()
    assert torch.equal(s.grad, torch.zeros(5))
    assert torch.isfinite(detector_loss(s.detach(), torch.zeros(5))["loss"])


def test_total_is_the_gamma_weighted_sum() -> None:
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(20, generator=g), (torch.rand(20, generator=g) > 0.3).float()
    t = detector_loss(logits, y, gamma=0.3, alpha=0.8, eta=0.6, p=2.0)
    ell = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    torch.testing.assert_close(t["loss"], 0.3 * cvar(ell, 0.8) + 0.7 * auc_loss(logits, y, 0.6, 2.0))
