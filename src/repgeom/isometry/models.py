"""The authors' MNIST classifier: 784 -> 100 tanh, four 100 -> 100 tanh layers, linear
readout (Analysis/ML_models.py, NN_class with n_layers=4). ``forward`` returns logits;
``representation`` returns the last hidden layer, the one the isometry term shapes."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from repgeom.io import save_torch


def flatten_images(x: torch.Tensor) -> torch.Tensor:
    """[N, 1, 28, 28] (or any [N, ...]) images -> [N, D] rows; floating dtypes are kept,
    others become float32."""
    x = x.reshape(x.shape[0], -1)
    return x if x.is_floating_point() else x.float()


class IsometricMLP(nn.Module):
    """tanh MLP: ``depth`` hidden layers of width ``hidden`` (the first maps the input),
    then a linear readout to ``n_classes``. Inputs are images in [0, 1]."""

    def __init__(self, in_dim: int = 784, hidden: int = 100, depth: int = 5, n_classes: int = 10):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.config = {"in_dim": in_dim, "hidden": hidden, "depth": depth, "n_classes": n_classes}
        dims = [in_dim] + [hidden] * depth
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.readout = nn.Linear(hidden, n_classes)
        for layer in self.hidden[1:]:
            # As the authors' NN_class: orthogonal weights for the square tanh layers.
            nn.init.orthogonal_(layer.weight)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer h, [N, hidden]."""
        h = flatten_images(x).to(self.readout.weight.dtype)
        if h.shape[1] != self.config["in_dim"]:
            raise ValueError(f"expected {self.config['in_dim']} input features, got {h.shape[1]}")
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.representation(x))

    def forward_with_representation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, h) from one pass, for losses that need both."""
        h = self.representation(x)
        return self.readout(h), h


def save_model(path: str | os.PathLike, model: IsometricMLP, meta: dict[str, Any]) -> None:
    """Atomically write state_dict, constructor kwargs and ``meta`` (dataset, beta, K,
    seed, ...) so ``load_model`` can rebuild the model without the config."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(path, {"state_dict": state, "kwargs": dict(model.config), "meta": dict(meta)})


def load_model(path: str | os.PathLike, device: Any = "cpu") -> tuple[IsometricMLP, dict]:
    """(model on ``device`` in eval mode, meta) from a file written by ``save_model``."""
    obj = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(obj, dict) or not {"state_dict", "kwargs", "meta"} <= obj.keys():
        raise ValueError(f"{path}: not a model file written by repgeom.isometry.save_model")
    model = IsometricMLP(**obj["kwargs"])
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval(), dict(obj["meta"])
