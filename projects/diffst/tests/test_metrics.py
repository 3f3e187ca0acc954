"""Metric functions on hand-made arrays (PCC, SSIM, RMSE, MSE, MAE and the official options)."""

from __future__ import annotations

import math

import torch

from diffst.metrics import minmax, per_map_metrics, summarize


def _ramp() -> torch.Tensor:
    return torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8) / 63


def test_identical_maps_score_perfectly() -> None:
    m = per_map_metrics(_ramp(), _ramp())
    assert math.isclose(float(m["pcc"]), 1.0, rel_tol=1e-6)
    assert math.isclose(float(m["ssim"]), 1.0, rel_tol=1e-5)
    assert float(m["rmse"]) == 0 and float(m["mae"]) == 0


def test_inverted_map_and_abs_pcc() -> None:
    a = _ramp()
    assert math.isclose(float(per_map_metrics(1 - a, a)["pcc"]), -1.0, rel_tol=1e-6)
    assert math.isclose(float(per_map_metrics(1 - a, a, abs_pcc=True)["pcc"]), 1.0, rel_tol=1e-6)


def test_rmse_mse_mae_after_minmax_by_hand() -> None:
    target = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).view(1, 1, 2, 2)  # min-max: 0, .25, .5, 1
    pred = torch.tensor([[0.0, 0.0], [0.0, 10.0]]).view(1, 1, 2, 2)  # min-max: 0, 0, 0, 1
    m = per_map_metrics(pred, target)
    d = torch.tensor([0.0, -0.25, -0.5, 0.0])
    assert math.isclose(float(m["mse"]), float(d.pow(2).mean()), rel_tol=1e-6)
    assert math.isclose(float(m["rmse"]), math.sqrt(float(d.pow(2).mean())), rel_tol=1e-6)
    assert math.isclose(float(m["mae"]), float(d.abs().mean()), rel_tol=1e-6)
    # min-max makes the metrics invariant to an affine change of either map
    m2 = per_map_metrics(pred * 3 + 7, target)
    torch.testing.assert_close(m2["rmse"], m["rmse"])


def test_ssim_drops_for_noise_and_official_uint8_variant_is_close() -> None:
    a = _ramp().repeat(1, 1, 2, 2)
    noisy = a + 0.3 * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))
    s = float(per_map_metrics(noisy, a)["ssim"])
    assert s < 0.8
    s225 = float(per_map_metrics(noisy, a, ssim_uint8_225=True)["ssim"])
    assert abs(s225 - s) < 0.1


def test_constant_maps_give_nan_pcc_skipped_in_means_and_zero_skipping() -> None:
    flat = torch.zeros(1, 1, 4, 4)
    m = per_map_metrics(_ramp()[..., :4, :4], flat)
    assert math.isnan(float(m["pcc"]))
    assert float(minmax(flat).abs().sum()) == 0
    values = torch.tensor([0.5, float("nan"), 0.0, 1.0])
    assert math.isclose(summarize(values), 0.5)
    assert math.isclose(summarize(values, skip_zeros=True), 0.75)
