"""Training and evaluation of one isometric classifier (one β, one seed): data as
float tensors on the device, minibatches through repgeom.training.fit, metrics as
tidy rows."""

from __future__ import annotations

import logging

import torch

from repgeom import streams
from repgeom.gate_inputs import StepLosses
from repgeom.isometry.geometry import (
    accuracy,
    geometry_metrics,
    representation_of,
    within_class_pairs,
)
from repgeom.isometry.losses import isometric_loss
from repgeom.isometry.models import IsometricMLP
from repgeom.stats import subset_indices
from repgeom.training import TrainSettings, train_model


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images [N, 1, 28, 28] -> float32 rows [N, 784] in [0, 1]."""
    return images.reshape(len(images), -1).float().div_(255.0)


def fixed_subset(n: int, size: int, seed: int) -> torch.Tensor:
    """Indices of a random subset of ``range(n)`` (all of it when size <= 0 or >= n),
    sorted. Isometry draws its subsets from fixed streams (streams.fixed_stream), the
    same for every model of a sweep: seeds differ only in initialisation and batch order,
    and every model is measured on the same points."""
    return torch.from_numpy(subset_indices(n, size, seed))


def train_isometric(
    data: dict,
    *,
    beta: float,
    K: float,
    epochs: int,
    lr: float,
    batch_size: int,
    max_train: int,
    hidden: int,
    depth: int,
    generator: torch.Generator,
    device: torch.device,
    logger: logging.Logger | None = None,
) -> tuple[IsometricMLP, list[dict], dict[str, float]]:
    """Adam on CE + beta * isometry penalty; returns (model in eval mode, per-epoch
    history, mean loss over the first and the last tenth of the steps)."""
    subset_seed = streams.fixed_stream("isometry/train_subset")
    idx = fixed_subset(len(data["train_labels"]), max_train, subset_seed)
    x = to_unit_float(data["train_images"][idx.to(data["train_images"].device)]).to(device)
    y = data["train_labels"][idx.to(data["train_labels"].device)].to(device)
    n_classes = int(y.max()) + 1
    model = IsometricMLP(in_dim=x.shape[1], hidden=hidden, depth=depth, n_classes=n_classes)
    model = model.to(device)
    if logger:
        logger.info("training on %d images, beta=%g K=%g, %d epochs", len(x), beta, K, epochs)

    def loss_fn(m, xb, yb):
        return isometric_loss(m, xb, yb, beta, K)

    steps = StepLosses(loss_fn)
    settings = TrainSettings(epochs, batch_size, lr, setting="isometry.lr")
    history = train_model(model, steps, (x, y), settings, generator=generator, logger=logger)
    return model.eval(), history, steps.tenths()


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


def run_isometric(
    data: dict,
    *,
    dataset: str,
    seed: int,
    eval_points: int,
    scatter_pairs: int,
    generator: torch.Generator,
    device: torch.device,
    logger: logging.Logger | None = None,
    **train,
) -> tuple[IsometricMLP, list[dict], list[dict]]:
    """Train (``train``: the settings of :func:`train_isometric`, beta, K, epochs, lr,
    batch_size, max_train, hidden, depth) and evaluate one model: (model, metric rows,
    distance-pair rows), the rows tidy (stage, method, seed, metric, value + parameters).
    The metric rows hold the loss of every epoch and of the first and last tenth of the
    steps (the ``training`` gate)."""
    model, history, loss_tenths = train_isometric(
        data, generator=generator, device=device, logger=logger, **train
    )
    beta, K = train["beta"], train["K"]
    metrics, pairs = evaluate_isometric(
        model, data, eval_points=eval_points, scatter_pairs=scatter_pairs, device=device
    )
    if logger:
        logger.info("%s beta=%g seed=%d: %s", dataset, beta, seed, metrics)
    base = {"stage": "isometry", "method": "isometric_mlp", "seed": seed, "dataset": dataset}
    base |= {"beta": beta, "K": K}
    rows = [{**base, "metric": k, "value": v} for k, v in (metrics | loss_tenths).items()]
    rows += [
        {**base, "metric": "train_loss", "value": h["loss"], "epoch": h["epoch"]} for h in history
    ]
    pair_rows = [
        {**base, "metric": name, "value": float(v), "pair": i, "label": int(pairs["label"][i])}
        for name in ("input_distance", "representation_distance")
        for i, v in enumerate(pairs[name].tolist())
    ]
    return model, rows, pair_rows
