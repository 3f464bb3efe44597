"""Self-supervised pretraining: NeuralEF (``repgeom.eigenmaps.loss``) and the baselines
Barlow Twins, SimCLR and the spectral contrastive loss, all with the same backbone,
projector, batched augmentations, optimiser and budget, so only the loss differs.

Each step draws two views of the minibatch with :func:`repgeom.eigenmaps.augment.augment`
(one generator for shuffling and augmentation, so a seed fixes the whole run), passes
them through the model and minimises the method's loss with AdamW under a cosine
schedule. BatchNorm follows the authors' code (thudzj/NEigenmaps, main.py): NeuralEF
passes both views in one joint batch (statistics over the 2B images, ``NeuralEFCLR``
concatenates the views), Barlow Twins and SimCLR pass each view separately (statistics
per view). :data:`JOINT_BN` lists the methods of the first kind."""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from repgeom.eigenmaps.augment import AugmentConfig, augment
from repgeom.eigenmaps.loss import neuralef_loss
from repgeom.eigenmaps.models import to_training_layout
from repgeom.training import TrainSettings, train_model

METHODS = ("neuralef", "barlow", "simclr", "spectral")
JOINT_BN = ("neuralef",)  # methods whose two views share one forward pass (BatchNorm)

__all__ = [
    "METHODS",
    "JOINT_BN",
    "ViewPairLoss",
    "view_codes",
    "barlow_twins_loss",
    "heldout_loss",
    "heldout_views",
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


def view_codes(net: torch.nn.Module, v1: Tensor, v2: Tensor, method: str) -> tuple[Tensor, Tensor]:
    """The codes of both views: one joint forward pass for the methods of
    :data:`JOINT_BN` (BatchNorm statistics over both views), else one pass per view."""
    if method in JOINT_BN:
        return net(torch.cat([v1, v2])).chunk(2)
    return net(v1), net(v2)


class ViewPairLoss:
    """The training loss of ``method``: two augmented views of each minibatch through
    the model, the method's loss on their codes. It keeps each step's loss on the device
    (no extra host sync per step) and, for NeuralEF, the sum of the eigenvalue estimates;
    :meth:`end_epoch` hands them over as the epoch's record."""

    def __init__(
        self,
        method: str,
        loss_params: dict,
        augment_cfg: AugmentConfig,
        generator: torch.Generator,
    ):
        self.method, self.loss_params = method, loss_params
        self.augment_cfg, self.generator = augment_cfg, generator
        self.step_losses: list[Tensor] = []  # this epoch's
        self.eigenvalue_sum, self.eigenvalue_steps = None, 0

    def __call__(self, net: torch.nn.Module, batch: Tensor) -> Tensor:
        cfg, gen = self.augment_cfg, self.generator
        if batch.shape[0] < 2:  # a one-image remainder batch has no batch statistics
            return net(augment(batch.repeat(2, 1, 1, 1), cfg, gen)).sum() * 0
        v1 = augment(batch, cfg, gen)
        v2 = augment(batch, cfg, gen)
        z1, z2 = view_codes(net, v1, v2, self.method)
        loss, info = ssl_loss(self.method, z1, z2, self.loss_params)
        self.step_losses.append(loss.detach())
        if "eigenvalues" in info:
            ev = info["eigenvalues"]
            self.eigenvalue_sum = ev if self.eigenvalue_sum is None else self.eigenvalue_sum + ev
            self.eigenvalue_steps += 1
        return loss

    def end_epoch(self, epoch: int, history: list[dict]) -> dict:
        """The epoch's ``step_losses`` (and mean ``eigenvalues``); starts the next epoch."""
        losses = torch.stack(self.step_losses).tolist() if self.step_losses else []
        record = {"step_losses": losses}
        self.step_losses.clear()
        if self.eigenvalue_steps:
            mean = self.eigenvalue_sum / self.eigenvalue_steps
            record["eigenvalues"] = mean.cpu().tolist()
            self.eigenvalue_sum, self.eigenvalue_steps = None, 0
        return record


def heldout_views(
    images: Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Two augmented views of held-out uint8 ``images``, drawn once, so that every
    epoch's held-out loss is measured on the same pairs."""
    return augment(images, cfg, generator), augment(images, cfg, generator)


@torch.no_grad()
def heldout_loss(
    model: torch.nn.Module,
    views: tuple[Tensor, Tensor],
    method: str,
    loss_params: dict,
    batch_size: int,
) -> float:
    """Mean of the method's loss over the full batches of held-out ``views`` (model in
    eval mode: BatchNorm's running statistics; no parameter or statistic changes)."""
    v1, v2 = views
    if len(v1) < batch_size:
        raise ValueError(f"need at least one batch ({batch_size}) of held-out views, got {len(v1)}")
    model.eval()
    losses = []
    for start in range(0, len(v1) - batch_size + 1, batch_size):
        part = slice(start, start + batch_size)
        z1, z2 = view_codes(model, v1[part], v2[part], method)
        losses.append(ssl_loss(method, z1, z2, loss_params)[0])
    return float(torch.stack(losses).mean())


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
    heldout: tuple[Tensor, Tensor] | None = None,
) -> list[dict]:
    """Pretrain ``model`` (on ``images``' device, in place, in the channels-last training
    layout) on uint8 ``images`` [N, C, H, W] with AdamW under a warm-up + cosine schedule.
    Returns one record per epoch (epoch, loss, time_s, lr, the loss of each of its steps
    as ``step_losses``, for NeuralEF the mean eigenvalue estimates of the epoch as
    ``eigenvalues``, and with ``heldout`` view pairs (:func:`heldout_views`) the loss on
    them after the epoch as ``heldout_loss``)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {METHODS}")
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"epochs must be >= 1 and batch_size >= 2, got {epochs}, {batch_size}")
    to_training_layout(model)
    settings = TrainSettings(
        epochs,
        batch_size,
        lr,
        setting="eigenmaps.ssl.lr",
        optimizer="adamw",
        weight_decay=weight_decay,
        schedule="warmup_cosine",
        warmup_epochs=warmup_epochs,
    )
    loss_fn = ViewPairLoss(method, loss_params, augment_cfg, generator)

    def end_epoch(epoch: int, history: list[dict]) -> dict:
        record = loss_fn.end_epoch(epoch, history)
        if heldout is not None:
            record["heldout_loss"] = heldout_loss(model, heldout, method, loss_params, batch_size)
        return record

    return train_model(
        model,
        loss_fn,
        (images,),
        settings,
        generator=generator,
        logger=logger,
        on_epoch_end=end_epoch,
    )
