"""OEL and SCL against hand-computed cases and the invariants the paper states (Sec. 3.1-3.2)."""

from __future__ import annotations

import math

import torch

from lio.losses import (
    choose_centre,
    correlation,
    group_indices,
    object_region,
    oel_loss,
    polar_targets,
    pseudo_masks,
    scl_loss,
)


def test_correlation_matches_a_hand_computed_2x2_example() -> None:
    # C = 2, both maps 2 x 2 (Eq. 2: phi_ij = 1/C * max_i'j' <f_ij, f'_i'j'>)
    fa = torch.tensor([[[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 3.0]]])  # cells: (1,0) (0,1) / (2,0) (0,3)
    fp = torch.tensor([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]]])  # cells: (1,1) (0,0) / (0,0) (2,1)
    # dot products with the positive's cells (1,1), (0,0), (0,0), (2,1):
    # (1,0): 1, 0, 0, 2 -> 2;  (0,1): 1, 0, 0, 1 -> 1;  (2,0): 2, 0, 0, 4 -> 4;  (0,3): 3, 0, 0, 3 -> 3
    expected = torch.tensor([[2.0, 1.0], [4.0, 3.0]]) / 2
    torch.testing.assert_close(correlation(fa, fp), expected)


def test_pseudo_mask_is_the_mean_over_the_other_group_members() -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.rand(8, 5, 3, 3, generator=g)  # 2 groups of 1 + K = 4
    groups = group_indices(2, 4)
    masks = pseudo_masks(f, groups)
    for grp in groups.tolist():
        for a in grp:
            want = torch.stack([correlation(f[a], f[p]) for p in grp if p != a]).mean(0)
            torch.testing.assert_close(masks[a], want)


def test_paper_grouping_keeps_each_anchor_with_its_own_positives() -> None:
    """Regression test for the official code's grouping: with our layout [a0, a0p1..a0pK, a1, ...] a paper group
    is one anchor with its own positives (one class); the official order mixes anchors of different samples."""
    labels = torch.arange(4).repeat_interleave(4)  # 4 anchors of 4 classes, K = 3: layout of the GroupSampler
    paper = group_indices(4, 4, "paper")
    assert all(len(set(labels[row].tolist())) == 1 for row in paper)
    official = group_indices(4, 4, "official")
    assert official[0].tolist() == [0, 4, 8, 12]  # the four anchors together: four classes in one "group"
    assert all(len(set(labels[row].tolist())) == 4 for row in official)
    assert sorted(official.reshape(-1).tolist()) == list(range(16))


def test_oel_loss_is_the_mean_squared_error() -> None:
    m = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    t = torch.tensor([[[0.0, 2.0], [1.0, 4.0]]])
    assert float(oel_loss(m, t)) == (1 + 0 + 4 + 0) / 4


def test_polar_targets_on_a_3x3_grid_by_hand() -> None:
    d, theta = polar_targets(torch.tensor([[1, 1]]), (3, 3), "N")
    s = math.sqrt(2) / 3
    torch.testing.assert_close(d[0], torch.tensor([[s, 1 / 3, s], [1 / 3, 0, 1 / 3], [s, 1 / 3, s]]))
    # theta = (atan2(dcol, drow) / pi + 1) / 2: the cell below the centre (drow > 0, dcol = 0) -> 1/2,
    # right (dcol > 0) -> 3/4, above -> 1 (atan2(0, -x) = pi), left -> 1/4
    assert float(theta[0, 2, 1]) == 0.5 and float(theta[0, 1, 2]) == 0.75
    assert float(theta[0, 0, 1]) == 1.0 and float(theta[0, 1, 0]) == 0.25
    d2, _ = polar_targets(torch.tensor([[1, 1]]), (3, 3), "sqrt2N")
    torch.testing.assert_close(d2, d / math.sqrt(2))  # paper: d in [0, 1]
    d_corner, _ = polar_targets(torch.tensor([[0, 0]]), (3, 3), "sqrt2N")
    assert float(d_corner.max()) <= 1.0


def test_scl_loss_is_zero_when_predictions_equal_targets() -> None:
    d, theta = polar_targets(torch.tensor([[0, 2], [1, 1]]), (4, 4))
    region = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.3
    for reduction in ("paper", "official"):
        assert float(scl_loss(d, theta, d, theta, region, reduction)) < 1e-10


def test_scl_angle_loss_is_invariant_to_a_constant_added_to_every_angle() -> None:
    g = torch.Generator().manual_seed(0)
    d, theta = polar_targets(torch.tensor([[1, 2], [3, 0]]), (5, 5))
    d_hat, theta_hat = torch.rand(2, 5, 5, generator=g), torch.rand(2, 5, 5, generator=g)
    region = torch.rand(2, 5, 5, generator=g) > 0.4
    base = scl_loss(d_hat, theta_hat, d, theta, region)
    for c in (0.13, 0.5, 0.91):
        torch.testing.assert_close(scl_loss(d_hat, theta_hat + c, d, theta, region), base)
    # ... but it does see a change of relative angles
    assert float(scl_loss(d_hat, theta_hat + 0.3 * torch.rand(2, 5, 5, generator=g), d, theta, region)) != float(base)


def test_scl_loss_counts_only_object_cells() -> None:
    d, theta = polar_targets(torch.tensor([[1, 1]]), (3, 3))
    region = torch.zeros(1, 3, 3, dtype=torch.bool)
    region[0, 1, 1] = region[0, 0, 1] = True
    wrong = d.clone()
    wrong[0, 2, 2] += 5.0  # outside the region: ignored
    assert float(scl_loss(wrong, theta, d, theta, region)) < 1e-10
    wrong[0, 0, 1] += 1.0  # inside: (1^2) / 2 object cells
    torch.testing.assert_close(scl_loss(wrong, theta, d, theta, region), torch.tensor(0.5))


def test_region_and_centres() -> None:
    m = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 5.0, 2.0], [0.0, 0.0, 0.0]]])
    region = object_region(m)
    assert region.tolist() == [[[False, True, False], [False, True, True], [False, False, False]]]
    assert choose_centre(m, torch.zeros(1, 2, 3, 3), region, "oel").tolist() == [[1, 1]]
    h = torch.zeros(1, 2, 3, 3)
    h[0, :, 1, 2] = 3.0  # the structure response peaks at (1, 2), inside the region
    h[0, :, 2, 0] = 9.0  # higher, but outside the region
    assert choose_centre(m, h, region, "structure").tolist() == [[1, 2]]
