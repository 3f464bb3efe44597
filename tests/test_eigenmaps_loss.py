"""The NeuralEF loss (repgeom.eigenmaps.loss): normalisation and scaling, the triangular
mask, which outputs the penalty's gradient reaches with and without stop-gradient, the
eigenvalue estimate, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from repgeom.eigenmaps.loss import neuralef_loss, normalise_outputs, upper_mask


def _views(b=64, k=4, seed=0, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, k, generator=g, dtype=torch.float64)
    z1 = z + noise * torch.randn(b, k, generator=g, dtype=torch.float64)
    z2 = z + noise * torch.randn(b, k, generator=g, dtype=torch.float64)
    return z1, z2


def _penalty_grad(z1, z2, stop_grad):
    """Gradient of the penalty term alone (loss at alpha=1 minus loss at alpha=0)."""
    z1 = z1.clone().requires_grad_(True)
    z2 = z2.clone().requires_grad_(True)
    with_pen, _ = neuralef_loss(z1, z2, alpha=1.0, stop_grad=stop_grad)
    without, _ = neuralef_loss(z1, z2, alpha=0.0, stop_grad=stop_grad)
    (with_pen - without).backward()
    return z1.grad, z2.grad


def test_upper_mask_is_strictly_upper_triangular():
    mask = upper_mask(3)
    expected = torch.tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    assert not mask.diagonal().any()


def test_normalisation_gives_2t_per_output_over_both_views():
    z1, z2 = _views()
    psi1, psi2 = normalise_outputs(z1, z2, t=10.0)
    total = psi1.pow(2).sum(0) + psi2.pow(2).sum(0)
    torch.testing.assert_close(total, torch.full_like(total, 20.0))


def test_penalty_matches_explicit_sum_over_pairs_i_less_than_j():
    z1, z2 = _views(k=4)
    t, alpha = 10.0, 0.7
    loss, info = neuralef_loss(z1, z2, alpha=alpha, t=t)
    psi1, psi2 = normalise_outputs(z1, z2, t)
    pen = sum(
        (psi2[:, i] @ psi1[:, j]) ** 2 + (psi1[:, i] @ psi2[:, j]) ** 2
        for i in range(4)
        for j in range(i + 1, 4)
    )
    agree = sum(psi1[:, j] @ psi2[:, j] for j in range(4))
    torch.testing.assert_close(info["penalty"], pen)
    torch.testing.assert_close(loss, (-2 * agree + alpha * pen) / 4)
    # the diagonal and the lower triangle are not penalised: a penalty that included them
    # would differ
    full = (psi2.T @ psi1).pow(2).sum() + (psi1.T @ psi2).pow(2).sum()
    assert full > pen + 1e-3


def test_stop_grad_blocks_penalty_gradient_to_the_earlier_output():
    z1, z2 = _views(k=2)
    g1, g2 = _penalty_grad(z1, z2, stop_grad=True)
    # output 0 is the earlier one in the only pair (0, 1): no penalty gradient reaches it
    # (zero up to the rounding left by subtracting the agreement term's gradient)
    assert g1[:, 0].abs().max() < 1e-12 and g2[:, 0].abs().max() < 1e-12
    assert g1[:, 1].abs().max() > 1e-4 and g2[:, 1].abs().max() > 1e-4
    g1, g2 = _penalty_grad(z1, z2, stop_grad=False)
    assert g1[:, 0].abs().max() > 1e-4 and g2[:, 0].abs().max() > 1e-4


def test_stop_grad_penalty_gradient_of_middle_output_comes_from_earlier_pairs_only():
    """With k=3 the penalty gradient on output 1 is that of the pair (0, 1) alone: pair
    (1, 2) treats output 1 as the fixed target."""
    z1, z2 = _views(k=3)
    g1, _ = _penalty_grad(z1, z2, stop_grad=True)
    a1 = z1.clone().requires_grad_(True)
    psi1, psi2 = normalise_outputs(a1, z2, 10.0)
    p1, p2 = psi1.detach(), psi2.detach()
    pair01 = (p2[:, 0] @ psi1[:, 1]) ** 2 + (p1[:, 0] @ psi2[:, 1]) ** 2
    (pair01 / 3).backward()
    torch.testing.assert_close(g1[:, 1], a1.grad[:, 1])


def test_loss_is_invariant_to_output_scale_and_batch_duplication():
    z1, z2 = _views()
    loss, info = neuralef_loss(z1, z2, alpha=0.5)
    scale = torch.tensor([0.1, 3.0, 7.0, 0.5], dtype=z1.dtype)
    loss_s, _ = neuralef_loss(z1 * scale, z2 * scale, alpha=0.5)
    loss_d, info_d = neuralef_loss(torch.cat([z1, z1]), torch.cat([z2, z2]), alpha=0.5)
    torch.testing.assert_close(loss, loss_s)
    torch.testing.assert_close(loss, loss_d)
    torch.testing.assert_close(info["eigenvalues"], info_d["eigenvalues"])


def test_eigenvalue_estimate_is_the_rayleigh_quotient_independent_of_t():
    z1, z2 = _views()
    _, a = neuralef_loss(z1, z2, alpha=1.0, t=10.0)
    _, b = neuralef_loss(z1, z2, alpha=1.0, t=1.0)
    rq = (z1 * z2).sum(0) / ((z1.pow(2).sum(0) + z2.pow(2).sum(0)) / 2)
    torch.testing.assert_close(a["eigenvalues"], rq)
    torch.testing.assert_close(b["eigenvalues"], rq)
    assert not a["eigenvalues"].requires_grad
    _, same = neuralef_loss(z1, z1, alpha=1.0)
    _, flipped = neuralef_loss(z1, -z1, alpha=1.0)
    torch.testing.assert_close(same["eigenvalues"], torch.ones(4, dtype=z1.dtype))
    torch.testing.assert_close(flipped["eigenvalues"], -torch.ones(4, dtype=z1.dtype))


def test_identical_orthogonal_views_reach_minus_two_t():
    q, _ = torch.linalg.qr(torch.randn(32, 3, dtype=torch.float64))
    loss, info = neuralef_loss(q, q, alpha=5.0, t=10.0)
    assert info["penalty"].item() == pytest.approx(0.0, abs=1e-10)
    assert loss.item() == pytest.approx(-2 * 10.0)
    assert math.isfinite(loss.item())


@pytest.mark.parametrize(
    "z1, z2, kwargs, match",
    [
        (torch.zeros(4), torch.zeros(4), {}, r"\[B, k\]"),
        (torch.zeros(4, 2), torch.zeros(4, 3), {}, "same shape"),
        (torch.zeros(1, 2), torch.zeros(1, 2), {}, "batch size"),
        (torch.ones(4, 2), torch.ones(4, 2), {"t": 0.0}, "t must be"),
        (torch.ones(4, 2), torch.ones(4, 2), {"alpha": -1.0}, "alpha must be"),
    ],
)
def test_bad_input_raises(z1, z2, kwargs, match):
    kwargs = {"alpha": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        neuralef_loss(z1, z2, **kwargs)
