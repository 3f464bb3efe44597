"""Classifiers whose penultimate layer is the embedding (the hash before the sign):
an MLP for random-network manifolds, a small CNN for image manifolds. ``train_classifier``
fits one on the first C seen manifolds with repgeom.training.fit for a number of
epochs that is the same at every C."""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from repgeom.curves import history_rows
from repgeom.gate_inputs import StepLosses
from repgeom.io import save_torch
from repgeom.lsh.generators import to_float
from repgeom.training import TrainRun, TrainSettings, train_model


class Embedder(nn.Module):
    """``trunk`` (input -> embedding, ReLU features) then a linear ``readout`` to classes.
    The trunk is built before the readout, so with the same init seed every C gets the
    same initial trunk (the untrained baseline is that initialisation)."""

    def __init__(self, kind: str, sample_shape: tuple, n_classes: int, hidden: int, embed_dim: int):
        super().__init__()
        self.config = {
            "kind": kind,
            "sample_shape": list(sample_shape),
            "n_classes": n_classes,
            "hidden": hidden,
            "embed_dim": embed_dim,
        }
        if kind == "randnet":
            (d,) = sample_shape
            self.trunk = nn.Sequential(
                nn.Linear(d, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, embed_dim),
                nn.ReLU(),
            )
        elif kind == "image":
            c, h, w = sample_shape
            if h % 8 or w % 8:
                raise ValueError(f"image size must be a multiple of 8, got {h}x{w}")
            ch = hidden
            self.trunk = nn.Sequential(
                nn.Conv2d(c, ch // 2, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(ch // 2, ch, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(ch, ch, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(ch * (h // 8) * (w // 8), embed_dim),
                nn.ReLU(),
            )
        else:
            raise ValueError(f"unknown generator kind {kind!r}")
        self.readout = nn.Linear(embed_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float(x)
        if self.config["kind"] == "image":
            x = x - 0.5
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.embed(x))


def build_model(
    kind: str, sample_shape: tuple, n_classes: int, hidden: int, embed_dim: int, init_seed: int
) -> Embedder:
    """A freshly initialised model whose weights depend only on ``init_seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(init_seed))
        return Embedder(kind, tuple(sample_shape), n_classes, hidden, embed_dim)


@torch.no_grad()
def embed_all(model: nn.Module | None, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Embeddings [N, d] of stored samples x [N, ...]; ``model=None`` gives the raw inputs."""
    if model is None:
        return to_float(x).reshape(x.shape[0], -1)
    model.eval()
    return torch.cat([model.embed(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2048) -> float:
    """Accuracy of ``model`` (eval mode) on x, y; NaN when there are no samples."""
    if x.shape[0] == 0:
        return math.nan
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])
    return float((pred == y).float().mean())


def _first_classes(data: dict, split: str, n_classes: int, device) -> tuple:
    """(x, y) of the split's samples of classes 0..n_classes-1 on ``device``; a split the
    data lacks (no held-out thetas) gives empty tensors."""
    if f"x_{split}" not in data:
        x = data["x_train"]
        return to_float(x[:0]).to(device), data["y_train"][:0].to(device)
    keep = data[f"y_{split}"] < n_classes
    return to_float(data[f"x_{split}"][keep]).to(device), data[f"y_{split}"][keep].to(device)


def train_classifier(
    data: dict,
    n_classes: int,
    *,
    hidden: int,
    embed_dim: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    run: TrainRun,
) -> tuple[Embedder, dict, list[dict]]:
    """Cross-entropy on the first ``n_classes`` seen manifolds for ``epochs`` epochs (the
    budget rule: the same number of passes over every manifold's samples at every C),
    from ``run``'s seed on its device. Returns the model, a summary (epochs, steps, final
    loss, mean loss over the first and the last tenth of the steps, accuracy on its
    training samples and on the held-out thetas of the same manifolds at the end) and
    the per-epoch history: loss, ``train_accuracy`` (over the epoch's minibatches, as
    they were trained on) and ``heldout_accuracy`` (held-out thetas, after the epoch;
    NaN without a held-out set)."""
    available = int(data["y_train"].max()) + 1
    if not 1 < n_classes <= available:
        raise ValueError(f"n_classes must be in [2, {available}], got {n_classes}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    x, y = _first_classes(data, "train", n_classes, run.device)
    x_held, y_held = _first_classes(data, "heldout", n_classes, run.device)
    model = build_model(
        data["kind"], x.shape[1:], n_classes, hidden, embed_dim, init_seed=run.seed
    ).to(run.device)
    settings = TrainSettings(
        epochs,
        batch_size,
        lr,
        setting="lsh.train.lr",
        weight_decay=weight_decay,
        log_every_epoch=False,
    )
    # Minibatch hits summed on the device: read once per epoch, not per step.
    hits = torch.zeros((), device=run.device)

    def loss_fn(m, xb, yb):
        logits = m(xb)
        hits.add_((logits.detach().argmax(1) == yb).sum())
        return F.cross_entropy(logits, yb)

    def end_epoch(epoch: int, history: list[dict]) -> dict:
        record = {"train_accuracy": float(hits) / x.shape[0]}
        hits.zero_()
        record["heldout_accuracy"] = _accuracy(model, x_held, y_held)
        return record

    step_losses = StepLosses(loss_fn)
    history = train_model(
        model,
        step_losses,
        (x, y),
        settings,
        generator=run.generator,
        logger=run.log,
        on_epoch_end=end_epoch,
    )
    summary = {
        "epochs": epochs,
        "steps": len(step_losses.losses),
        "final_loss": history[-1]["loss"],
        **step_losses.tenths(),
        "train_accuracy": _accuracy(model, x, y),
        "heldout_accuracy": history[-1]["heldout_accuracy"],
        "n_train": int(x.shape[0]),
        "n_heldout": int(x_held.shape[0]),
    }
    return model, summary, history


# history key -> (curve metric, split) of a training curve (repgeom.curves)
CURVE_METRICS = {
    "loss": ("loss", "train"),
    "train_accuracy": ("accuracy", "train"),
    "heldout_accuracy": ("accuracy", "heldout"),
}


def curve_rows(history: list[dict], base: dict) -> list[dict]:
    """Curve rows of one classifier's history (train_classifier); NaN held-out accuracy
    (no held-out thetas) is left out."""
    rows = history_rows(history, base, CURVE_METRICS)
    return [r for r in rows if not math.isnan(r["value"])]


def save_model(path: str | os.PathLike, model: Embedder, meta: dict[str, Any]) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(path, {"state_dict": state, "kwargs": dict(model.config), "meta": dict(meta)})


def load_model(path: str | os.PathLike, device: Any = "cpu") -> tuple[Embedder, dict]:
    obj = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(obj, dict) or not {"state_dict", "kwargs", "meta"} <= obj.keys():
        raise ValueError(f"{path}: not a model file written by repgeom.lsh.models.save_model")
    kw = dict(obj["kwargs"])
    model = Embedder(
        kw["kind"], tuple(kw["sample_shape"]), kw["n_classes"], kw["hidden"], kw["embed_dim"]
    )
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval(), dict(obj["meta"])
