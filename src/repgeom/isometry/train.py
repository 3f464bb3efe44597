"""Training and evaluation of the isometric classifiers of one (dataset, seed): every
beta of the sweep trains in one process, as a :class:`StackedMLP` (one model per beta,
the same initial weights and batch order, as separate runs of that seed would have),
for a fixed number of optimiser steps. Metrics, distance pairs and training curves come
back as tidy rows per beta."""

from __future__ import annotations

import logging
import math

import torch

from repgeom import streams
from repgeom.curves import history_rows
from repgeom.gate_inputs import first_last_tenth
from repgeom.isometry.geometry import (
    accuracy,
    geometry_metrics,
    representation_of,
    within_class_pairs,
)
from repgeom.isometry.losses import stacked_isometric_loss
from repgeom.isometry.models import IsometricMLP, StackedMLP
from repgeom.isometry.summary import TRAIN_IMAGES
from repgeom.stats import subset_indices
from repgeom.training import DivergenceGuard, Progress, iterate_minibatches, steps_per_epoch

EVAL_CHUNK = 2000  # test images per forward pass of the per-epoch evaluation


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images [N, 1, 28, 28] -> float32 rows [N, 784] in [0, 1]."""
    return images.reshape(len(images), -1).float().div_(255.0)


def fixed_subset(n: int, size: int, seed: int) -> torch.Tensor:
    """Indices of a random subset of ``range(n)`` (all of it when size <= 0 or >= n),
    sorted. Isometry draws its subsets from fixed streams (streams.fixed_stream), the
    same for every model of a sweep: seeds differ only in initialisation and batch order,
    and every model is measured on the same points."""
    return torch.from_numpy(subset_indices(n, size, seed))


@torch.no_grad()
def stacked_accuracy(stack: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction correct of every model of the stack on (x, y): [M], on the device (no
    host read)."""
    correct = torch.zeros(stack.copies, device=x.device)
    for i in range(0, len(x), EVAL_CHUNK):
        logits = stack(x[i : i + EVAL_CHUNK])
        correct += (logits.argmax(-1) == y[i : i + EVAL_CHUNK]).sum(1)
    return correct / len(x)


def train_isometric(
    data: dict,
    *,
    betas: list[float],
    K: float,
    steps: int,
    lr: float,
    batch_size: int,
    max_train: int,
    hidden: int,
    depth: int,
    generator: torch.Generator,
    device: torch.device,
    logger: logging.Logger | None = None,
) -> tuple[list[IsometricMLP], list[list[dict]], list[dict[str, float]]]:
    """Adam on CE + beta * isometry penalty for ``steps`` steps, one model per beta, all
    from the same initial weights (drawn from the global torch stream, as one model
    would be) on the same batches. Returns per beta: the model (eval mode), its history
    (one record per epoch, the last one possibly partial: epoch, steps, loss = mean
    training loss of the epoch's steps, heldout_accuracy on the test split) and its
    mean loss over the first and the last tenth of the steps.

    Host reads: one per epoch (losses, accuracies and the divergence check together)
    and one at the first step, none per step."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    subset_seed = streams.fixed_stream("isometry/train_subset")
    idx = fixed_subset(len(data["train_labels"]), max_train, subset_seed)
    x = to_unit_float(data["train_images"][idx.to(data["train_images"].device)]).to(device)
    y = data["train_labels"][idx.to(data["train_labels"].device)].to(device)
    x_test = to_unit_float(data["test_images"]).to(device)
    y_test = data["test_labels"].to(device)
    n_classes = int(y.max()) + 1
    template = IsometricMLP(in_dim=x.shape[1], hidden=hidden, depth=depth, n_classes=n_classes)
    stack = StackedMLP(template, len(betas)).to(device)
    beta_t = torch.tensor([float(b) for b in betas], device=device)
    per_epoch = steps_per_epoch(len(x), batch_size)
    epochs = math.ceil(steps / per_epoch)
    if logger:
        logger.info(
            "training %d models (betas %s) on %d images, K=%g, %d steps (%d epochs of %d)",
            len(betas), betas, len(x), K, steps, epochs, per_epoch,
        )  # fmt: skip
    # The fused Adam kernel (CPU and CUDA) steps the stack's few large tensors in one
    # pass: about a fifth of a step's time on CPU.
    fused = torch.device(device).type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(stack.parameters(), lr=lr, fused=fused or None)
    guard = DivergenceGuard(stack.parameters(), setting="isometry.lr", lr=lr)
    progress = Progress(steps, logger=logger)
    step_losses: list[torch.Tensor] = []  # [M] per step, on the device
    history: list[dict] = []
    for epoch in range(1, epochs + 1):
        stack.train()
        first = len(step_losses)
        for batch in iterate_minibatches(len(x), batch_size, generator=generator, device=device):
            if len(step_losses) == steps:
                break
            optimizer.zero_grad(set_to_none=True)
            losses = stacked_isometric_loss(stack, x[batch], y[batch], beta_t, K)
            if not step_losses:  # the guard's reference: the first step's loss
                guard.check_loss(losses.sum(), epoch=epoch, step=1)
            losses.sum().backward()
            optimizer.step()
            step_losses.append(losses.detach())
            if progress.advance(detail=f"epoch {epoch}"):
                guard.check_parameters(epoch=epoch, step=len(step_losses))
        stack.eval()
        epoch_losses = torch.stack(step_losses[first:])
        summary = torch.cat(
            [
                epoch_losses.sum(1).max()[None],  # the worst step, for the guard
                epoch_losses.mean(0),
                stacked_accuracy(stack, x_test, y_test),
            ]
        ).tolist()  # the epoch's one host read
        guard.check_loss(torch.tensor(summary[0]), epoch=epoch, step=len(step_losses))
        m = len(betas)
        if logger:
            logger.info(
                "epoch %d/%d (%d steps) loss %s, test accuracy %s", epoch, epochs,
                len(step_losses), _fmt(summary[1 : 1 + m]), _fmt(summary[1 + m :]),
            )  # fmt: skip
        history.append(
            {
                "epoch": epoch,
                "steps": len(step_losses),
                "train_images": len(x),
                "loss": summary[1 : 1 + m],
                "heldout_accuracy": summary[1 + m :],
            }
        )
    guard.finish(epoch=epochs, step=steps, logger=logger)
    all_losses = torch.stack(step_losses).double().cpu().numpy()
    models = [stack.unstack(i) for i in range(len(betas))]
    histories = [
        [{**h, "loss": h["loss"][i], "heldout_accuracy": h["heldout_accuracy"][i]} for h in history]
        for i in range(len(betas))
    ]
    tenths = [first_last_tenth(all_losses[:, i]) for i in range(len(betas))]
    return models, histories, tenths


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:.4g}" for v in values)


@torch.no_grad()
def evaluate_isometric(
    model: IsometricMLP,
    data: dict,
    *,
    eval_points: int,
    scatter_pairs: int,
    device: torch.device,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Clean test accuracy (whole test set) beside chance (1 / classes), and the geometry
    metrics on a fixed subset of ``eval_points`` test images; also a sample of
    within-class distance pairs."""
    x = to_unit_float(data["test_images"]).to(device)
    y = data["test_labels"].to(device)
    metrics = {
        "accuracy": accuracy(model, x, y),
        "chance_accuracy": 1.0 / model.config["n_classes"],
    }
    sub = fixed_subset(len(y), eval_points, streams.fixed_stream("isometry/eval_subset")).to(device)
    h = representation_of(model, x[sub])
    metrics.update(geometry_metrics(h, x[sub], y[sub]))
    gen = torch.Generator().manual_seed(streams.fixed_stream("isometry/scatter_pairs"))
    pairs = within_class_pairs(h, x[sub], y[sub], scatter_pairs, gen)
    return metrics, pairs


CURVE_METRICS = {
    "loss": ("loss", "train"),
    "heldout_accuracy": ("accuracy", "heldout"),
}


def run_isometric(
    data: dict,
    *,
    dataset: str,
    seed: int,
    betas: list[float],
    eval_points: int,
    scatter_pairs: int,
    generator: torch.Generator,
    device: torch.device,
    logger: logging.Logger | None = None,
    **train,
) -> list[dict]:
    """Train (``train``: the settings of :func:`train_isometric` but betas: K, steps, lr,
    batch_size, max_train, hidden, depth) and evaluate the models of every beta of one
    seed. One dict per beta: beta, model, rows (tidy metric rows: stage, method, seed,
    dataset, beta, K, metric, value; with the loss of the first and last tenth of the
    steps, the ``training`` gate), pairs (distance-pair rows) and curves (curve rows:
    training loss and test accuracy per epoch)."""
    models, histories, tenths = train_isometric(
        data, betas=betas, generator=generator, device=device, logger=logger, **train
    )
    out = []
    for beta, model, history, loss_tenths in zip(betas, models, histories, tenths, strict=True):
        metrics, pairs = evaluate_isometric(
            model, data, eval_points=eval_points, scatter_pairs=scatter_pairs, device=device
        )
        if logger:
            logger.info("%s beta=%g seed=%d: %s", dataset, beta, seed, metrics)
        base = {"stage": "isometry", "method": "isometric_mlp", "seed": seed, "dataset": dataset}
        base |= {"beta": float(beta), "K": train["K"]}
        measured = metrics | loss_tenths | {TRAIN_IMAGES: history[-1]["train_images"]}
        rows = [{**base, "metric": k, "value": v} for k, v in measured.items()]
        pair_rows = [
            {**base, "metric": name, "value": float(v), "pair": i, "label": int(pairs["label"][i])}
            for name in ("input_distance", "representation_distance")
            for i, v in enumerate(pairs[name].tolist())
        ]
        curves = history_rows(history, base, CURVE_METRICS)
        out.append(
            {
                "beta": float(beta),
                "model": model,
                "rows": rows,
                "pairs": pair_rows,
                "curves": curves,
            }
        )
    return out
