"""Attacks on models mapping images in [0, 1] to logits, batched over large chunks.

Standard attacks (cross-entropy on the logits) are torchattacks'. AutoAttack is
assembled from torchattacks' components with the original standard settings
(APGD-CE, APGD-T, FAB-T with ``steps`` iterations each, Square with ``square_queries``):
torchattacks.AutoAttack's "standard" version runs 10 iterations instead of 100.
The authors' variant, whose attack loss adds the isometry term, needs a loss that
torchattacks cannot take, so FGSM and PGD are also implemented here with a pluggable
loss (with cross-entropy they give exactly torchattacks' examples; see the tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from repgeom.isometry.losses import isometry_penalty

# loss(model, x_adv, x_clean, y) -> scalar to maximise
AttackLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

STANDARD_ATTACKS = ("fgsm", "pgd")
AUTOATTACK_PARTS = ("apgd-ce", "apgd-t", "fab-t", "square")


class LogitsModel(nn.Module):
    """What torchattacks sees: float inputs in [0, 1] -> logits [N, C]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.float())


def cross_entropy_loss(model, x_adv, x_clean, y):
    return F.cross_entropy(model(x_adv), y)


def logits_and_representation(model, x):
    if hasattr(model, "forward_with_representation"):
        return model.forward_with_representation(x)
    return model(x), model.representation(x)


def isometry_attack_loss(beta: float, K: float) -> AttackLoss:
    """The authors' attack loss: cross-entropy + beta * isometry penalty on the batch being
    attacked, with the representation of the perturbed inputs and the pixel distances of
    the clean ones (the authors compute their distance matrix before perturbing)."""

    def loss(model, x_adv, x_clean, y):
        logits, h = logits_and_representation(model, x_adv)
        ce = F.cross_entropy(logits, y)
        if beta == 0:
            return ce
        return ce + beta * isometry_penalty(h, x_clean.detach(), y, K)

    return loss


def _input_gradient(model, loss_fn, x_adv, x_clean, y) -> torch.Tensor:
    x_adv = x_adv.detach().requires_grad_(True)
    loss = loss_fn(model, x_adv, x_clean, y)
    return torch.autograd.grad(loss, x_adv)[0]


def fgsm(model, x, y, eps: float, loss_fn: AttackLoss = cross_entropy_loss) -> torch.Tensor:
    """One signed-gradient step of size eps, clipped to [0, 1]."""
    grad = _input_gradient(model, loss_fn, x, x, y)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def pgd(
    model,
    x,
    y,
    eps: float,
    *,
    alpha: float,
    steps: int,
    random_start: bool = True,
    loss_fn: AttackLoss = cross_entropy_loss,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-inf PGD (Madry et al.): uniform random start in the eps-ball, ``steps`` signed
    gradient steps of size alpha, each projected onto the ball and [0, 1]. The random
    start draws from ``generator`` (the global RNG when None, as torchattacks does)."""
    x_adv = x.clone().detach()
    if random_start:
        noise = torch.empty_like(x).uniform_(-eps, eps, generator=generator)
        x_adv = (x_adv + noise).clamp(0, 1)
    for _ in range(steps):
        grad = _input_gradient(model, loss_fn, x_adv, x, y)
        x_adv = x_adv + alpha * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1).detach()
    return x_adv


def autoattack_parts(
    model: nn.Module,
    eps: float,
    *,
    parts: Sequence[str] = AUTOATTACK_PARTS,
    steps: int = 100,
    square_queries: int = 5000,
    n_classes: int = 10,
    seed: int = 0,
) -> list[tuple[str, Callable]]:
    """(name, attack) of each part of AutoAttack standard L-inf (Croce & Hein 2020), in
    order, from torchattacks' components."""
    unknown = sorted(set(parts) - set(AUTOATTACK_PARTS))
    if unknown or not parts:
        raise ValueError(f"autoattack parts must be a non-empty subset of {AUTOATTACK_PARTS}")
    make = {
        "apgd-ce": lambda: torchattacks.APGD(
            model, norm="Linf", eps=eps, steps=steps, n_restarts=1, loss="ce", seed=seed
        ),
        "apgd-t": lambda: torchattacks.APGDT(
            model, norm="Linf", eps=eps, steps=steps, n_restarts=1, n_classes=n_classes, seed=seed
        ),
        "fab-t": lambda: torchattacks.FAB(
            model,
            norm="Linf",
            eps=eps,
            steps=steps,
            n_restarts=1,
            multi_targeted=True,
            n_classes=n_classes,
            seed=seed,
        ),
        "square": lambda: square(model, eps, n_queries=square_queries, seed=seed),
    }
    return [(p, make[p]()) for p in parts]


def autoattack(model: nn.Module, eps: float, **settings):
    """AutoAttack standard L-inf as one attack: each part attacks the points the previous
    ones left correctly classified (torchattacks.MultiAttack). ``settings``: those of
    :func:`autoattack_parts`."""
    attacks = [a for _, a in autoattack_parts(model, eps, **settings)]
    return attacks[0] if len(attacks) == 1 else torchattacks.MultiAttack(attacks)


def square(model: nn.Module, eps: float, *, n_queries: int = 5000, seed: int = 0):
    """Black-box Square attack (margin loss, L-inf), as in AutoAttack."""
    return torchattacks.Square(
        model, norm="Linf", eps=eps, n_queries=n_queries, n_restarts=1, seed=seed, loss="margin"
    )


def objective_gradients(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, K: float, batch_size: int
) -> tuple[float, float]:
    """What drives the authors' variant attack, at the clean points: the norm of the
    input gradient of beta * isometry term over that of the cross-entropy, and the cosine
    between the variant's whole input gradient and the cross-entropy's (means over the
    batches of ``batch_size`` the isometry term runs over). beta = 0 gives (0, 1)."""
    if beta == 0:
        return 0.0, 1.0
    ratios, cosines = [], []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].detach().requires_grad_(True), y[i : i + batch_size]
        logits, h = logits_and_representation(model, xb)
        g_ce = torch.autograd.grad(F.cross_entropy(logits, yb), xb, retain_graph=True)[0]
        iso = beta * isometry_penalty(h, xb.detach(), yb, K)
        g_iso = torch.autograd.grad(iso, xb)[0]
        ce_norm = float(g_ce.norm())
        ratios.append(float(g_iso.norm()) / max(ce_norm, 1e-30))
        total = (g_ce + g_iso).flatten()
        cosines.append(float(F.cosine_similarity(total, g_ce.flatten(), dim=0)))
    return float(np.mean(ratios)), float(np.mean(cosines))


def in_chunks(fn, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Apply ``fn(x_chunk, y_chunk)`` over chunks of ``batch_size`` and concatenate."""
    return torch.cat(
        [
            fn(x[i : i + batch_size], y[i : i + batch_size]).detach()
            for i in range(0, len(x), batch_size)
        ]
    )


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    return torch.cat(
        [model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)]
    )


def check_perturbation(x_adv: torch.Tensor, x: torch.Tensor, eps: float, what: str) -> float:
    """Fail loudly if an attack left the eps-ball or [0, 1]; returns the L-inf size."""
    if x_adv.shape != x.shape:
        raise RuntimeError(f"{what}: adversarial batch {tuple(x_adv.shape)} != {tuple(x.shape)}")
    if not torch.isfinite(x_adv).all():
        raise RuntimeError(f"{what}: non-finite adversarial inputs")
    linf = float((x_adv - x).abs().amax()) if len(x) else 0.0
    lo, hi = float(x_adv.min()), float(x_adv.max())
    if linf > eps * (1 + 1e-5) + 1e-6 or lo < 0 or hi > 1:
        raise RuntimeError(
            f"{what}: adversarial inputs leave the threat model (max |delta| {linf:.6g} "
            f"vs eps {eps:.6g}, range [{lo:.6g}, {hi:.6g}])"
        )
    return linf
