"""Classifiers whose penultimate layer is the embedding (the hash before the sign):
an MLP for random-network manifolds, a small CNN for image manifolds. ``train_classifier``
fits one on the first C seen manifolds with repgeom.training.fit."""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

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


def train_classifier(
    data: dict,
    n_classes: int,
    *,
    hidden: int,
    embed_dim: int,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    run: TrainRun,
) -> tuple[Embedder, dict]:
    """Cross-entropy on the first ``n_classes`` seen manifolds for about ``steps`` steps
    (whole epochs), from ``run``'s seed on its device. Returns the model and a summary
    (epochs, final loss, mean loss over the first and the last tenth of the steps,
    accuracy on its training samples at the end)."""
    available = int(data["y_train"].max()) + 1
    if not 1 < n_classes <= available:
        raise ValueError(f"n_classes must be in [2, {available}], got {n_classes}")
    keep = data["y_train"] < n_classes
    x = to_float(data["x_train"][keep]).to(run.device)
    y = data["y_train"][keep].to(run.device)
    model = build_model(
        data["kind"], x.shape[1:], n_classes, hidden, embed_dim, init_seed=run.seed
    ).to(run.device)
    epochs = max(1, round(steps / math.ceil(x.shape[0] / batch_size)))
    settings = TrainSettings(
        epochs,
        batch_size,
        lr,
        setting="lsh.train.lr",
        weight_decay=weight_decay,
        log_every_epoch=False,
    )

    def loss_fn(m, xb, yb):
        return F.cross_entropy(m(xb), yb)

    step_losses = StepLosses(loss_fn)
    history = train_model(
        model, step_losses, (x, y), settings, generator=run.generator, logger=run.log
    )
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 2048]).argmax(1) for i in range(0, x.shape[0], 2048)])
    summary = {
        "epochs": epochs,
        "final_loss": history[-1]["loss"],
        **step_losses.tenths(),
        "train_accuracy": float((pred == y).float().mean()),
        "n_train": int(x.shape[0]),
    }
    return model, summary


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
