"""The isometry regulariser (paper eq. for L_iso; authors' MetricPreservationLoss):

    penalty = mean_{i,j} (K * Y_ij * ||h_i - h_j|| - Y_ij * ||x_i - x_j||)^2,
    Y_ij = 1[y_i = y_j],

over all B^2 ordered pairs of the batch (the diagonal included, where both distances
are zero), h the last hidden layer and x the raw pixels in [0, 1], flattened."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from repgeom.isometry.models import flatten_images

# Squared distances at or below this count as zero (diagonal, duplicates): the smallest
# squared distance between distinct images in [0, 1] with 8-bit levels is (1/255)^2.
_ZERO = 1e-10


def pairwise_distances(a: torch.Tensor) -> torch.Tensor:
    """Euclidean distance matrix of the rows of ``a`` [..., N, D] -> [..., N, N], in
    ``a``'s dtype (a stack of models' representations [M, N, D] gives M matrices).

    Computed from the Gram matrix in float64 (fast matrix products; float64 keeps the
    cancellation error far below the smallest distance between distinct 8-bit images).
    Squared distances below ``_ZERO`` (the diagonal, duplicate rows) give exactly 0 with
    a zero gradient, never the NaN of sqrt'(0)."""
    a64 = a.double()
    sq = (a64 * a64).sum(-1)
    d2 = sq[..., :, None] + sq[..., None, :] - 2.0 * (a64 @ a64.transpose(-1, -2))
    nonzero = d2 > _ZERO
    d = torch.where(nonzero, d2.clamp_min(_ZERO).sqrt(), torch.zeros_like(d2))
    return d.to(a.dtype)


def same_class(y: torch.Tensor) -> torch.Tensor:
    """Y_ij = 1[y_i = y_j] as a float matrix."""
    return (y[:, None] == y[None, :]).float()


def isometry_penalty(h: torch.Tensor, x: torch.Tensor, y: torch.Tensor, K: float) -> torch.Tensor:
    """Scalar penalty; ``x`` may be images [N, 1, 28, 28] or rows [N, D]."""
    if not (h.shape[0] == x.shape[0] == y.shape[0]):
        raise ValueError(
            f"h, x and y must share their first dimension, got {h.shape[0]}, {x.shape[0]}, "
            f"{y.shape[0]}"
        )
    same = same_class(y).to(h.dtype)
    dx = pairwise_distances(flatten_images(x).to(h.dtype))
    return penalty_from_distances(pairwise_distances(h), dx, same, K)


def penalty_from_distances(
    dh: torch.Tensor, dx: torch.Tensor, same: torch.Tensor, K: float
) -> torch.Tensor:
    """The penalty from the representation distances ``dh`` [..., B, B] (one matrix per
    model of a stack), the input distances ``dx`` [B, B] and Y = ``same`` [B, B], the
    last two shared by every model trained on the batch: [...] (a scalar per model)."""
    return ((same * (K * dh - dx)) ** 2).mean((-2, -1))


def isometric_loss(model, x: torch.Tensor, y: torch.Tensor, beta: float, K: float) -> torch.Tensor:
    """Cross-entropy on the logits + beta * isometry penalty on the last hidden layer.
    With beta = 0 the penalty is not computed: the loss is exactly cross-entropy."""
    h = model.representation(x)
    loss = F.cross_entropy(model.readout(h), y)
    if beta != 0:
        loss = loss + beta * isometry_penalty(h, x, y, K)
    return loss


def stacked_isometric_loss(
    stack, x: torch.Tensor, y: torch.Tensor, betas: torch.Tensor, K: float
) -> torch.Tensor:
    """:func:`isometric_loss` of each model of a :class:`~repgeom.isometry.models.StackedMLP`
    on the shared batch, model m with weight ``betas[m]``: [M]. The input distances and Y
    are computed once for all models; a model with beta 0 gets exactly cross-entropy
    (0 x a finite penalty)."""
    logits, h = stack.forward_with_representation(x)
    m, b = logits.shape[:2]
    ce = F.cross_entropy(logits.reshape(m * b, -1), y.repeat(m), reduction="none")
    ce = ce.reshape(m, b).mean(1)
    same = same_class(y).to(h.dtype)
    dx = pairwise_distances(flatten_images(x).to(h.dtype))
    return ce + betas.to(h.dtype) * penalty_from_distances(pairwise_distances(h), dx, same, K)
