"""The displacement regressor: a small CNN (about 30k parameters, no batch norm or
dropout, so per-sample gradients with torch.func are plain) from the stacked aerial and
map channels to (dx, dy) in pixels, trained with mean squared error on noisy labels."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from repgeom.io import save_torch
from repgeom.training import TrainRun, TrainSettings, train_model

ARCH_KEYS = ("in_channels", "size", "width", "hidden", "out_scale")


class RegistrationCNN(nn.Module):
    """conv(C->w) conv(w->w) pool, conv(w->2w) pool, conv(2w->2w) pool, linear -> hidden
    -> 2, ReLU between, on inputs centred at 0.5; the output is multiplied by
    ``out_scale`` (the largest shift) so the last layer works at unit scale."""

    def __init__(
        self,
        in_channels: int = 5,
        size: int = 24,
        width: int = 16,
        hidden: int = 32,
        out_scale: float = 4.0,
    ):
        super().__init__()
        if size % 8:
            raise ValueError(f"size must be a multiple of 8, got {size}")
        if min(in_channels, width, hidden) < 1 or not out_scale > 0:
            raise ValueError("in_channels, width, hidden must be >= 1 and out_scale > 0")
        self.arch = {
            "in_channels": int(in_channels),
            "size": int(size),
            "width": int(width),
            "hidden": int(hidden),
            "out_scale": float(out_scale),
        }
        w = int(width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * w * (size // 8) ** 2, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Inputs are intensities in [0, 1]; centring them speeds up training.
        return self.head(self.features(x - 0.5)) * self.arch["out_scale"]


def build_model(init_seed: int | None = None, **arch) -> RegistrationCNN:
    """A model from its build kwargs (``arch``); with ``init_seed`` its initial weights
    depend on that seed only (the global RNG is left untouched)."""
    unknown = sorted(set(arch) - set(ARCH_KEYS))
    if unknown:
        raise ValueError(f"unknown model argument(s) {unknown}; known: {list(ARCH_KEYS)}")
    if init_seed is None:
        return RegistrationCNN(**arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(init_seed))
        return RegistrationCNN(**arch)


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Predictions [n, 2] on the model's device, in eval mode, ``batch`` at a time."""
    model.eval()
    device = next(model.parameters()).device
    outs = [model(inputs[i : i + batch].to(device)) for i in range(0, inputs.shape[0], batch)]
    return torch.cat(outs)


def train_regressor(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    arch: dict,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    run: TrainRun,
) -> tuple[RegistrationCNN, list[dict]]:
    """MSE regression of ``labels`` [n, 2] from ``inputs`` [n, C, H, W] with Adam and a
    cosine learning-rate decay to zero over ``epochs``, from ``run``'s seed on its
    device. Returns the model (eval mode) and the per-epoch history of
    repgeom.training.train_model (with each epoch's ``lr``)."""
    if inputs.shape[0] != labels.shape[0] or labels.shape[1:] != (2,):
        raise ValueError(
            f"labels must be [n, 2] for {inputs.shape[0]} inputs, got {tuple(labels.shape)}"
        )
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    model = build_model(init_seed=run.seed, **arch).to(run.device)
    x, y = inputs.to(run.device), labels.to(run.device)
    settings = TrainSettings(
        epochs,
        batch_size,
        lr,
        setting="registration.train.lr",
        weight_decay=weight_decay,
        schedule="cosine",
    )

    def loss_fn(m, xb, yb):
        return F.mse_loss(m(xb), yb)

    history = train_model(model, loss_fn, (x, y), settings, generator=run.generator, logger=run.log)
    return model.eval(), history


def save_model(
    path: str | os.PathLike,
    model: RegistrationCNN,
    train_labels: torch.Tensor,
    meta: dict[str, Any] | None = None,
) -> None:
    """{"state_dict", "arch", "train_labels" (the noisy labels it was trained on), "meta"}."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(
        path,
        {
            "state_dict": state,
            "arch": dict(model.arch),
            "train_labels": train_labels.detach().cpu().float(),
            "meta": dict(meta or {}),
        },
    )


def load_checkpoint(path: str | os.PathLike) -> dict:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or not {"state_dict", "arch", "train_labels"} <= obj.keys():
        raise ValueError(f"{path}: not a model file written by repgeom.registration.save_model")
    return obj


def load_model(path: str | os.PathLike, device: Any = "cpu") -> RegistrationCNN:
    """The trained model of ``path`` on ``device``, in eval mode: float [B, C, H, W] -> [B, 2]."""
    obj = load_checkpoint(path)
    model = RegistrationCNN(**obj["arch"])
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval()
