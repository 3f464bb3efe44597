"""The neural-eigenfunction (NeuralEF) contrastive loss of Deng et al. (2022), as the
authors implement it (thudzj/NEigenmaps, main.py, ``NeuralEFCLR.forward``, default flags).

For the two views' raw outputs z1, z2 ([B, k]) each output j is normalised over the 2B
samples, psi = z / n_j * sqrt(2t) with n_j^2 = sum_b z1_bj^2 + z2_bj^2, so that per sample
psi ~ sqrt(t/B) * phi with mean(phi^2) = 1 and every inner product below is O(t) whatever
the batch size (the code divides by nothing else that depends on B). Then

    agreement_j = psi1_j . psi2_j                       (~ t * lambda_j)
    loss = ( -2 sum_j agreement_j
             + alpha * sum_{i<j} [ (psi2_i^ . psi1_j)^2 + (psi1_i^ . psi2_j)^2 ] ) / k

where ^ is stop-gradient: output i (earlier) is a fixed target in the penalty of output j
(later), so j is pushed to be orthogonal, under the kernel, to the earlier outputs while
they never move to accommodate it. This asymmetry is what orders the outputs: output 1
converges to the top eigenfunction, output 2 to the next, and so on. With
``stop_grad=False`` (the authors' ``--no_stop_grad`` ablation) the penalty becomes the
symmetric sum over all off-diagonal entries and the outputs only span the top-k subspace,
in an arbitrary rotation.

The eigenvalue estimate of output j is its Rayleigh quotient on the batch,
agreement_j / t = sum_b z1_bj z2_bj / ((sum_b z1_bj^2 + z2_bj^2) / 2), the same quantity as
the authors' ``estimate_output_norm`` (R_diag).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["neuralef_loss", "normalise_outputs", "upper_mask"]


def normalise_outputs(z1: Tensor, z2: Tensor, t: float = 10.0) -> tuple[Tensor, Tensor]:
    """psi = z / n_j * sqrt(2t), n_j the l2 norm of output j over both views (2B samples).
    The norm keeps its gradient, as in the authors' code."""
    norm = (z1.pow(2).sum(0) + z2.pow(2).sum(0)).sqrt().clamp(min=1e-6)
    scale = math.sqrt(2.0 * t)
    return z1 / norm * scale, z2 / norm * scale


def upper_mask(k: int, device: torch.device | str | None = None) -> Tensor:
    """Boolean [k, k] mask of the pairs (i, j) with i < j (diagonal excluded): row i is
    the earlier (detached) output, column j the later one that is penalised."""
    return torch.ones(k, k, dtype=torch.bool, device=device).triu(1)


def _check_inputs(z1: Tensor, z2: Tensor, alpha: float, t: float) -> None:
    if z1.ndim != 2 or z2.ndim != 2:
        raise ValueError(
            f"z1 and z2 must be [B, k], got shapes {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must have the same shape, got {tuple(z1.shape)} vs {tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError(f"batch size must be at least 2, got {z1.shape[0]}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if not t > 0:
        raise ValueError(f"t must be > 0, got {t}")


def neuralef_loss(
    z1: Tensor, z2: Tensor, alpha: float, t: float = 10.0, stop_grad: bool = True
) -> tuple[Tensor, dict]:
    """The NeuralEF loss for raw outputs z1, z2 ([B, k]) of the two views of the same B
    samples. Returns the scalar loss and a dict with ``eigenvalues`` (detached [k], the
    per-output Rayleigh-quotient estimates), ``agreement`` and ``penalty`` (detached
    scalars: the two terms before the 1/k and alpha weighting), ``psi1``, ``psi2``
    (the normalised outputs, with gradient)."""
    _check_inputs(z1, z2, alpha, t)
    k = z1.shape[1]
    psi1, psi2 = normalise_outputs(z1, z2, t)
    agreement = (psi1 * psi2).sum(0)  # [k], ~ t * lambda_j
    lhs1, lhs2 = (psi1.detach(), psi2.detach()) if stop_grad else (psi1, psi2)
    cross21 = lhs2.T @ psi1  # [i, j] = psi2_i^ . psi1_j
    cross12 = lhs1.T @ psi2  # [i, j] = psi1_i^ . psi2_j
    mask = upper_mask(k, z1.device)
    penalty = cross21.pow(2)[mask].sum() + cross12.pow(2)[mask].sum()
    loss = (-2.0 * agreement.sum() + alpha * penalty) / k
    info = {
        "eigenvalues": (agreement / t).detach(),
        "agreement": agreement.sum().detach(),
        "penalty": penalty.detach(),
        "psi1": psi1,
        "psi2": psi2,
    }
    return loss, info
