"""Geometry of a representation against its input: pairwise distances within and between
classes, their Pearson correlation, and normalised stress.

Normalised stress here is scale-free: sqrt(min_a sum (a*d_h - d_x)^2 / sum d_x^2), the
residual of the best uniform rescaling of representation distances d_h onto input
distances d_x (0 = isometric up to a global scale, 1 = no linear relation), so models
whose representations differ only in scale (tanh units, the factor K) compare fairly."""

from __future__ import annotations

import torch

from repgeom.isometry.losses import pairwise_distances
from repgeom.isometry.models import flatten_images


def pair_masks(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean [N, N] masks of the pairs i < j with the same / different label."""
    upper = torch.ones(len(y), len(y), dtype=torch.bool, device=y.device).triu(1)
    same = y[:, None] == y[None, :]
    return upper & same, upper & ~same


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    denom = a.norm() * b.norm()
    return float((a @ b) / denom) if denom > 0 else float("nan")


def normalised_stress(d_rep: torch.Tensor, d_in: torch.Tensor) -> float:
    """sqrt(min_a ||a d_rep - d_in||^2 / ||d_in||^2) = sqrt(1 - cos^2(d_rep, d_in))."""
    d_rep, d_in = d_rep.double(), d_in.double()
    denom = d_rep.norm() * d_in.norm()
    if denom == 0:
        return float("nan")
    cos = (d_rep @ d_in) / denom
    return float(torch.sqrt(torch.clamp(1 - cos**2, min=0)))


@torch.no_grad()
def representation_of(model, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    return torch.cat(
        [model.representation(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )


@torch.no_grad()
def geometry_metrics(h: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Within- and between-class correlation and normalised stress of the distances of
    ``h`` [N, H] against those of the inputs ``x`` [N, ...]."""
    d_h = pairwise_distances(h.float())
    d_x = pairwise_distances(flatten_images(x))
    within, between = pair_masks(y)
    out = {}
    for name, mask in (("within", within), ("between", between)):
        a, b = d_x[mask], d_h[mask]
        out[f"{name}_class_correlation"] = pearson(a, b) if a.numel() > 1 else float("nan")
        out[f"{name}_class_stress"] = normalised_stress(b, a) if a.numel() else float("nan")
    return out


@torch.no_grad()
def accuracy(logits_fn, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    """Fraction correct of argmax(logits_fn(x)), batched."""
    correct = sum(
        int((logits_fn(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
        for i in range(0, len(x), batch_size)
    )
    return correct / len(x)


@torch.no_grad()
def within_class_pairs(
    h: torch.Tensor, x: torch.Tensor, y: torch.Tensor, n_pairs: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """A random sample of ``n_pairs`` within-class pairs (i < j): their input and
    representation distances and class, for the distance scatter figure."""
    within, _ = pair_masks(y)
    i, j = within.nonzero(as_tuple=True)
    pick = torch.randperm(len(i), generator=generator)[:n_pairs].to(i.device)
    i, j = i[pick], j[pick]
    xf = flatten_images(x)
    return {
        "input_distance": (xf[i] - xf[j]).norm(dim=1).cpu(),
        "representation_distance": (h[i].float() - h[j].float()).norm(dim=1).cpu(),
        "label": y[i].cpu(),
    }
