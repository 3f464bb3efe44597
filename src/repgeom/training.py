"""In-memory minibatch training: data already lives on the device as tensors,
batches are index tensors from one seeded permutation per epoch (no DataLoader,
no per-sample Python), and a non-finite loss stops the run instead of letting
it write numbers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import torch

DEFAULT_LOGGER = "repgeom.training"


class DivergenceError(RuntimeError):
    """The loss became NaN or infinite."""


def check_finite(loss: torch.Tensor, *, epoch: int, step: int) -> None:
    # .item() syncs with the device; one scalar per step is cheap next to the step itself.
    if not torch.isfinite(loss.detach()).all().item():
        raise DivergenceError(
            f"loss became nan/inf at epoch {epoch} step {step}; lower the learning rate "
            "or check the inputs (NaN/inf features, empty classes, zero-variance batches)"
        )


def iterate_minibatches(
    n: int,
    batch_size: int,
    *,
    generator: torch.Generator,
    shuffle: bool = True,
    drop_last: bool = False,
    device: torch.device | str | None = None,
) -> Iterator[torch.Tensor]:
    """Yield index tensors covering ``range(n)`` once (one epoch). The permutation
    is drawn on the CPU generator so it is identical on every device."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if device is not None:
        order = order.to(device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def fit(
    model: torch.nn.Module,
    tensors: tuple[torch.Tensor, ...],
    loss_fn: Callable[..., torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    logger: logging.Logger | None = None,
    log_every_epoch: bool = True,
    on_epoch_end: Callable[[int, list[dict]], dict | None] | None = None,
) -> list[dict]:
    """Train ``model`` on in-memory ``tensors`` (all same length, on the model's
    device) with ``loss_fn(model, *batch) -> scalar``. Returns one dict per
    epoch: epoch (1-based), loss (mean over steps), time_s, plus whatever
    ``on_epoch_end(epoch, history)`` returns."""
    logger = logger or logging.getLogger(DEFAULT_LOGGER)
    n = _common_length(tensors)
    history: list[dict] = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()  # again each epoch: on_epoch_end may have switched to eval
        loss = _run_epoch(model, tensors, loss_fn, optimizer, n, batch_size, generator, epoch)
        record = {"epoch": epoch, "loss": loss, "time_s": time.perf_counter() - start}
        history.append(record)
        if on_epoch_end is not None:
            extra = on_epoch_end(epoch, history)
            if isinstance(extra, dict):
                record.update(extra)
        if log_every_epoch or epoch == epochs:
            logger.info("epoch %d/%d loss %.4f (%.1f s)", epoch, epochs, loss, record["time_s"])
    return history


def _common_length(tensors: tuple[torch.Tensor, ...]) -> int:
    if not tensors:
        raise ValueError("fit needs at least one tensor")
    lengths = {t.shape[0] for t in tensors}
    if len(lengths) != 1:
        raise ValueError(f"tensors must share their first dimension, got lengths {sorted(lengths)}")
    return lengths.pop()


def _run_epoch(model, tensors, loss_fn, optimizer, n, batch_size, generator, epoch) -> float:
    device = tensors[0].device
    # Accumulate on the device to avoid a host sync per step beyond check_finite's.
    total = torch.zeros((), device=device, dtype=torch.float64)
    steps = 0
    for step, idx in enumerate(
        iterate_minibatches(n, batch_size, generator=generator, device=device), start=1
    ):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, *(t[idx] for t in tensors))
        check_finite(loss, epoch=epoch, step=step)
        loss.backward()
        optimizer.step()
        total += loss.detach().to(torch.float64)
        steps += 1
    if steps == 0:
        raise ValueError(f"no minibatches: n={n}, batch_size={batch_size}")
    return float(total / steps)
