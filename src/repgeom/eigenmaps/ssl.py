"""Self-supervised pretraining: NeuralEF (``repgeom.eigenmaps.loss``) and the baselines
Barlow Twins, SimCLR and the spectral contrastive loss, all with the same backbone,
projector, batched augmentations, optimiser and budget, so only the loss differs.

Each step draws two views of the minibatch with :func:`repgeom.eigenmaps.augment.augment`
(one generator for shuffling and augmentation, so a seed fixes the whole run), passes
each view through the model separately (BatchNorm statistics per view, as in the
authors' code) and minimises the method's loss with AdamW under a cosine schedule."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from repgeom.eigenmaps.augment import AugmentConfig, augment
from repgeom.eigenmaps.loss import neuralef_loss
from repgeom.eigenmaps.models import to_training_layout
from repgeom.training import fit

METHODS = ("neuralef", "barlow", "simclr", "spectral")

__all__ = [
    "METHODS",
    "barlow_twins_loss",
    "pretrain",
    "simclr_loss",
    "spectral_contrastive_loss",
    "ssl_loss",
]


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must be [B, k] of the same shape, got {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError(f"batch size must be at least 2, got {z1.shape[0]}")


def barlow_twins_loss(z1: Tensor, z2: Tensor, lambd: float) -> Tensor:
    """Zbontar et al. (2021): the cross-correlation of the batch-standardised views
    pushed to the identity; ``lambd`` weights the off-diagonal terms."""
    _check_pair(z1, z2)
    n = z1.shape[0]
    a = (z1 - z1.mean(0)) / (z1.std(0, unbiased=False) + 1e-5)
    b = (z2 - z2.mean(0)) / (z2.std(0, unbiased=False) + 1e-5)
    c = a.T @ b / n
    diag = torch.diagonal(c)
    off = c.pow(2).sum() - diag.pow(2).sum()
    return (diag - 1).pow(2).sum() + lambd * off


def simclr_loss(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent (Chen et al. 2020): each of the 2B views must pick its partner among the
    other 2B - 1 by cosine similarity / temperature."""
    _check_pair(z1, z2)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, target)


def spectral_contrastive_loss(z1: Tensor, z2: Tensor, t: float) -> Tensor:
    """HaoChen et al. (2021): -2 E[z1 . z2+] + E[(z1 . z2-)^2] over the batch's
    positive pairs and all other pairs, on codes rescaled to norm sqrt(t) per sample as
    Deng et al.'s baseline does (thudzj/NEigenmaps, main.py, ``SpectralCLR``, with the
    NeuralEF kernel scale t): raw outputs make the quartic term explode at init."""
    _check_pair(z1, z2)
    if not t > 0:
        raise ValueError(f"t must be > 0, got {t}")
    scale = math.sqrt(t)
    z1, z2 = F.normalize(z1, dim=1) * scale, F.normalize(z2, dim=1) * scale
    n = z1.shape[0]
    positive = (z1 * z2).sum(1).mean()
    gram = z1 @ z2.T
    off = gram.pow(2).sum() - torch.diagonal(gram).pow(2).sum()
    return -2 * positive + off / (n * (n - 1))


def ssl_loss(method: str, z1: Tensor, z2: Tensor, params: dict) -> tuple[Tensor, dict]:
    """The loss of ``method`` on the two views' codes; ``params`` holds its constants
    (neuralef: alpha, t, stop_grad; barlow: lambd; simclr: temperature; spectral: t)."""
    if method == "neuralef":
        loss, info = neuralef_loss(
            z1, z2, params["alpha"], t=params["t"], stop_grad=params["stop_grad"]
        )
        return loss, {"eigenvalues": info["eigenvalues"]}
    if method == "barlow":
        return barlow_twins_loss(z1, z2, params["lambd"]), {}
    if method == "simclr":
        return simclr_loss(z1, z2, params["temperature"]), {}
    if method == "spectral":
        return spectral_contrastive_loss(z1, z2, params["t"]), {}
    raise ValueError(f"unknown method {method!r}; known: {METHODS}")


def _cosine(epochs: int, warmup: int) -> Callable[[int], float]:
    def factor(epoch: int) -> float:  # epoch = number of finished epochs
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        progress = (epoch - warmup) / max(1, epochs - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def pretrain(
    model: torch.nn.Module,
    images: Tensor,
    *,
    method: str,
    loss_params: dict,
    augment_cfg: AugmentConfig,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    generator: torch.Generator,
    warmup_epochs: int = 1,
    logger: logging.Logger | None = None,
) -> list[dict]:
    """Pretrain ``model`` (on ``images``' device, in place, in the channels-last training
    layout) on uint8 ``images`` [N, C, H, W].
    Returns one record per epoch (epoch, loss, time_s, lr, the loss of each of its steps
    as ``step_losses``, and for NeuralEF the mean eigenvalue estimates of the epoch as
    ``eigenvalues``)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {METHODS}")
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"epochs must be >= 1 and batch_size >= 2, got {epochs}, {batch_size}")
    to_training_layout(model)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(epochs, warmup_epochs))
    spectrum = {"sum": None, "steps": 0}
    step_losses = []  # this epoch's, on the device (no extra host sync per step)

    def loss_fn(net, batch):
        if batch.shape[0] < 2:  # a one-image remainder batch has no batch statistics
            return net(augment(batch.repeat(2, 1, 1, 1), augment_cfg, generator)).sum() * 0
        v1 = augment(batch, augment_cfg, generator)
        v2 = augment(batch, augment_cfg, generator)
        loss, info = ssl_loss(method, net(v1), net(v2), loss_params)
        step_losses.append(loss.detach())
        if "eigenvalues" in info:
            ev = info["eigenvalues"]
            spectrum["sum"] = ev if spectrum["sum"] is None else spectrum["sum"] + ev
            spectrum["steps"] += 1
        return loss

    def on_epoch_end(epoch, history):
        losses = torch.stack(step_losses).tolist() if step_losses else []
        record = {"lr": opt.param_groups[0]["lr"], "step_losses": losses}
        step_losses.clear()
        sched.step()
        if spectrum["steps"]:
            record["eigenvalues"] = (spectrum["sum"] / spectrum["steps"]).cpu().tolist()
            spectrum.update(sum=None, steps=0)
        return record

    return fit(
        model,
        (images,),
        loss_fn,
        opt,
        epochs=epochs,
        batch_size=batch_size,
        generator=generator,
        logger=logger,
        on_epoch_end=on_epoch_end,
        setting="eigenmaps.ssl.lr",
    )
