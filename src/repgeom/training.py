"""In-memory minibatch training: data already lives on the device as tensors,
batches are index tensors from one seeded permutation per epoch (no DataLoader,
no per-sample Python). A stage trains with one call, :func:`train_model`: its model,
its loss, its data tensors and a :class:`TrainSettings` (optimiser, learning rate,
weight decay, epochs, batch size, schedule, the config key of the learning rate).
Every training loop of the package uses the two helpers here: a
:class:`DivergenceGuard`, which stops a run whose loss or weights blow up before it
writes any number, and a :class:`Progress` log line at least every tenth of the work,
with the time spent and an estimate of the time left."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch

DEFAULT_LOGGER = "repgeom.training"

# DivergenceGuard thresholds. A normal run's loss falls from its first value, and Adam
# moves a weight by about lr per step, so with the package's learning rates (1e-3 .. 3e-3,
# a few thousand steps at most) weights stay O(1). Measured on one job of every training
# rule at the default scale: max |w| <= 4.5 and |loss - first| <= 6.9 x max(|first|, 1)
# (a NeuralEF fall), far inside both limits.
LOSS_FACTOR = 100.0  # loss - first may not exceed LOSS_FACTOR * max(|first|, LOSS_FLOOR)
LOSS_FLOOR = 1.0  # loss scale used when the first loss is near zero (or negative and small)
MAX_ABS_PARAMETER = 1e4  # largest |weight| a run may reach


class DivergenceError(RuntimeError):
    """Training diverged: the loss became NaN/inf or blew up, or the weights exploded."""


class DivergenceGuard:
    """One guard for every training loop. It stops the run with :class:`DivergenceError`
    (naming the epoch, the step and the setting to lower) when

    - the loss is NaN or infinite;
    - the loss rose too far above the first step's loss ``first`` (computed before any
      update, so it does not depend on the learning rate):
      ``loss - first > loss_factor * max(|first|, loss_floor)``. A normal run's loss
      falls, so only a rise is tested, and a rise is measured against ``max(|first|,
      floor)`` so the test works for losses that start negative or near zero (NeuralEF
      starts at any sign and falls towards -2t). A fall is never a divergence: every
      loss in the package is bounded below, and a run heading to -inf on an unbounded
      one has exploding weights, which the next test catches;
    - a parameter is NaN/inf or ``max |w| > max_abs_parameter``. Bounded losses (NeuralEF,
      SimCLR, cosine terms) cannot blow up however large the weights; this test catches
      those runs. :meth:`check_parameters` is called at every progress line and at the
      end of training, so nothing is written from exploded weights.

    ``check_loss`` reads the loss once per step (one host sync, as any finite check)."""

    def __init__(
        self,
        parameters: Iterable[torch.Tensor],
        *,
        setting: str = "lr",
        lr: float | None = None,
        loss_factor: float = LOSS_FACTOR,
        loss_floor: float = LOSS_FLOOR,
        max_abs_parameter: float = MAX_ABS_PARAMETER,
    ):
        self.parameters = list(parameters)
        self.setting = setting if lr is None else f"{setting} = {lr:g}"
        self.loss_factor, self.loss_floor = loss_factor, loss_floor
        self.max_abs_parameter = max_abs_parameter
        self.first = math.nan  # the first step's loss (nan until then)
        self.max_rise = 0.0  # largest loss - first seen, in units of max(|first|, floor)
        self.max_weight = 0.0

    def check_loss(self, loss: torch.Tensor, *, epoch: int, step: int) -> float:
        """The loss as a float, after checking it; raises DivergenceError."""
        value = float(loss.detach())
        if not math.isfinite(value):
            self._fail("loss became nan/inf", epoch, step)
        if math.isnan(self.first):
            self.first = value
            return value
        rise = (value - self.first) / max(abs(self.first), self.loss_floor)
        self.max_rise = max(self.max_rise, rise)
        if rise > self.loss_factor:
            self._fail(
                f"loss blew up to {value:.4g} from {self.first:.4g} at the first step "
                f"(rise > {self.loss_factor:g} x max(|first|, {self.loss_floor:g}))",
                epoch,
                step,
            )
        return value

    @torch.no_grad()
    def check_parameters(self, *, epoch: int, step: int) -> float:
        """Largest |weight|, after checking it; raises DivergenceError."""
        peaks = [p.detach().abs().max().float() for p in self.parameters if p.numel()]
        largest = float(torch.stack(peaks).max()) if peaks else 0.0
        if not math.isfinite(largest):
            self._fail("a weight became nan/inf", epoch, step)
        self.max_weight = max(self.max_weight, largest)
        if largest > self.max_abs_parameter:
            self._fail(
                f"weights exploded (max |w| = {largest:.3g} > {self.max_abs_parameter:.3g})",
                epoch,
                step,
            )
        return largest

    def finish(self, *, epoch: int, step: int, logger: logging.Logger | None = None) -> None:
        """The last parameter check, then one log line with how close the run came to
        the thresholds."""
        self.check_parameters(epoch=epoch, step=step)
        (logger or logging.getLogger(DEFAULT_LOGGER)).info(
            "divergence guard: first loss %.4g, max rise (loss - first) %.3g x max(|first|, %g) "
            "(limit %g), max |w| %.3g (limit %.3g)",
            self.first,
            self.max_rise,
            self.loss_floor,
            self.loss_factor,
            self.max_weight,
            self.max_abs_parameter,
        )

    def _fail(self, what: str, epoch: int, step: int):
        raise DivergenceError(
            f"{what} at epoch {epoch} step {step}; lower the learning rate ({self.setting}) "
            "or check the inputs (NaN/inf features, empty classes, zero-variance batches)"
        )


class Progress:
    """Logs ``<what> x/y (z%), elapsed a s, ETA b s[, detail]`` each time the work done
    reaches another of ``parts`` equal shares of ``total`` (by default every 10 %; the
    last line is at 100 %). ETA = elapsed / done * (total - done). ``clock`` is
    injectable for tests."""

    def __init__(
        self,
        total: int,
        *,
        what: str = "step",
        logger: logging.Logger | None = None,
        parts: int = 10,
        clock: Callable[[], float] = time.perf_counter,
    ):
        if total < 1 or parts < 1:
            raise ValueError(f"need total >= 1 and parts >= 1, got {total}, {parts}")
        self.total, self.what, self.parts = total, what, parts
        self.logger = logger or logging.getLogger(DEFAULT_LOGGER)
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.due = self._mark_after(0)  # units at which the next line is due

    def _mark_after(self, done: int) -> int | float:
        """The first mark ceil(k * total / parts) above ``done`` (inf past the end)."""
        if done >= self.total:
            return math.inf
        k = done * self.parts // self.total + 1
        while -(-k * self.total // self.parts) <= done:
            k += 1
        return -(-k * self.total // self.parts)

    def advance(self, n: int = 1, detail: str = "") -> bool:
        """Count ``n`` more units; log (with ``detail``) when a mark is reached.
        Returns whether it logged."""
        self.done += n
        if self.done < self.due:
            return False
        self.due = self._mark_after(self.done)
        elapsed = self.clock() - self.start
        left = elapsed / self.done * max(0, self.total - self.done)
        self.logger.info(
            "%s %d/%d (%.0f%%), elapsed %.1f s, ETA %.1f s%s",
            self.what,
            self.done,
            self.total,
            100 * self.done / self.total,
            elapsed,
            left,
            f", {detail}" if detail else "",
        )
        return True


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Minibatches per epoch of :func:`iterate_minibatches` (to size a Progress)."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


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
    setting: str = "lr",
    progress: Progress | None = None,
) -> list[dict]:
    """Train ``model`` on in-memory ``tensors`` (all same length, on the model's
    device) with ``loss_fn(model, *batch) -> scalar``. Returns one dict per
    epoch: epoch (1-based), loss (mean over steps), time_s, plus whatever
    ``on_epoch_end(epoch, history)`` returns.

    A :class:`DivergenceGuard` watches every step; its error names ``setting``
    (the config key of the learning rate). Progress is logged every 10 % of the
    steps, on ``progress`` when the caller shares one over several runs."""
    logger = logger or logging.getLogger(DEFAULT_LOGGER)
    n = _common_length(tensors)
    guard = DivergenceGuard(model.parameters(), setting=setting, lr=optimizer.defaults.get("lr"))
    if progress is None:
        progress = Progress(epochs * steps_per_epoch(n, batch_size), logger=logger)
    history: list[dict] = []
    steps = 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()  # again each epoch: on_epoch_end may have switched to eval
        loss, steps = _run_epoch(
            model, tensors, loss_fn, optimizer, n, batch_size, generator, epoch, guard, progress
        )
        record = {"epoch": epoch, "loss": loss, "time_s": time.perf_counter() - start}
        history.append(record)
        if on_epoch_end is not None:
            extra = on_epoch_end(epoch, history)
            if isinstance(extra, dict):
                record.update(extra)
        if log_every_epoch or epoch == epochs:
            logger.info("epoch %d/%d loss %.4f (%.1f s)", epoch, epochs, loss, record["time_s"])
    guard.finish(epoch=epochs, step=steps, logger=logger)
    return history


def _common_length(tensors: tuple[torch.Tensor, ...]) -> int:
    if not tensors:
        raise ValueError("fit needs at least one tensor")
    lengths = {t.shape[0] for t in tensors}
    if len(lengths) != 1:
        raise ValueError(f"tensors must share their first dimension, got lengths {sorted(lengths)}")
    return lengths.pop()


def _run_epoch(
    model, tensors, loss_fn, optimizer, n, batch_size, generator, epoch, guard, progress
) -> tuple[float, int]:
    """(mean loss over the epoch's steps, number of steps)."""
    device = tensors[0].device
    total, steps = 0.0, 0
    for step, idx in enumerate(
        iterate_minibatches(n, batch_size, generator=generator, device=device), start=1
    ):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, *(t[idx] for t in tensors))
        value = guard.check_loss(loss, epoch=epoch, step=step)
        loss.backward()
        optimizer.step()
        total += value
        steps += 1
        if progress.advance(detail=f"epoch {epoch}, loss {value:.4g}"):
            guard.check_parameters(epoch=epoch, step=step)
    if steps == 0:
        raise ValueError(f"no minibatches: n={n}, batch_size={batch_size}")
    return total / steps, steps


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
# constant: lr throughout; cosine: torch's CosineAnnealingLR to 0 over the epochs;
# warmup_cosine: a linear warm-up over warmup_epochs, then a cosine decay to 0.
SCHEDULES = ("constant", "cosine", "warmup_cosine")

# The keys of a rule's params that a stage's training function takes as they are.
TRAIN_PARAMS = ("epochs", "steps", "batch_size", "lr", "weight_decay")


@dataclass(frozen=True)
class TrainSettings:
    """Everything about a training but its model, loss and data. ``setting`` is the
    config key of the learning rate, which a :class:`DivergenceError` names. A schedule
    steps once at the end of every epoch."""

    epochs: int
    batch_size: int
    lr: float
    setting: str = "lr"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    log_every_epoch: bool = True

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {list(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {list(SCHEDULES)}")


def warmup_cosine(epochs: int, warmup: int) -> Callable[[int], float]:
    """The lr factor after ``epoch`` finished epochs: (epoch + 1) / (warmup + 1) during
    the warm-up, then 0.5 (1 + cos(pi p)) with p the fraction of the rest done."""

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        done = (epoch - warmup) / max(1, epochs - warmup)
        return 0.5 * (1 + math.cos(math.pi * done))

    return factor


def build_optimizer(
    parameters: Iterable[torch.Tensor], settings: TrainSettings
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """The optimiser of ``settings`` and its schedule (None for a constant lr)."""
    optimizer = OPTIMIZERS[settings.optimizer](
        parameters, lr=settings.lr, weight_decay=settings.weight_decay
    )
    if settings.schedule == "cosine":
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=settings.epochs
        )
    if settings.schedule == "warmup_cosine":
        factor = warmup_cosine(settings.epochs, settings.warmup_epochs)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return optimizer, None


def train_model(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    tensors: tuple[torch.Tensor, ...],
    settings: TrainSettings,
    *,
    generator: torch.Generator,
    logger: logging.Logger | None = None,
    on_epoch_end: Callable[[int, list[dict]], dict | None] | None = None,
    progress: Progress | None = None,
) -> list[dict]:
    """Build the optimiser and schedule of ``settings`` and train ``model`` with
    :func:`fit` on ``tensors`` with ``loss_fn(model, *batch)``. Returns fit's per-epoch
    records; with a schedule each also holds ``lr``, the rate the epoch trained with
    (the schedule steps after ``on_epoch_end``)."""
    optimizer, schedule = build_optimizer(model.parameters(), settings)

    def end_epoch(epoch: int, history: list[dict]) -> dict:
        record = (on_epoch_end(epoch, history) if on_epoch_end else None) or {}
        if schedule is not None:
            record["lr"] = optimizer.param_groups[0]["lr"]
            schedule.step()
        return record

    return fit(
        model,
        tensors,
        loss_fn,
        optimizer,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        generator=generator,
        logger=logger,
        log_every_epoch=settings.log_every_epoch,
        on_epoch_end=end_epoch,
        setting=settings.setting,
        progress=progress,
    )


@dataclass(frozen=True)
class TrainRun:
    """Where a training starts from: ``seed`` (of the initial weights), ``generator``
    (of the batch order), ``device`` and ``log``. A ``rule_run`` has the same
    attributes and can stand in for one."""

    seed: int
    generator: torch.Generator
    device: torch.device
    log: logging.Logger | None = None


def training_args(run) -> dict:
    """The keyword arguments a rule's training call takes from its ``rule_run``: the
    params named in :data:`TRAIN_PARAMS` that the rule has, and ``run`` itself (the
    :class:`TrainRun` of the rule)."""
    return {k: run.params[k] for k in TRAIN_PARAMS if k in run.params} | {"run": run}
