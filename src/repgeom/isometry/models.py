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


class StackedMLP(nn.Module):
    """M copies of one :class:`IsometricMLP` trained side by side on the same batches
    (one beta each): every weight gets a leading model axis, so one matrix product per
    layer serves all M models. Adam is elementwise, so training the stack is training
    each model alone (up to the rounding of batched products)."""

    def __init__(self, template: IsometricMLP, copies: int):
        super().__init__()
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        self.config = dict(template.config)
        layers = [*template.hidden, template.readout]

        def stacked(t: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(t.detach().unsqueeze(0).repeat(copies, *([1] * t.dim())))

        self.weights = nn.ParameterList(stacked(layer.weight) for layer in layers)  # [M, out, in]
        self.biases = nn.ParameterList(stacked(layer.bias) for layer in layers)  # [M, out]

    @property
    def copies(self) -> int:
        return self.weights[0].shape[0]

    def forward_with_representation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [M, B, classes], last hidden layer [M, B, hidden]) of a batch [B, ...]
        shared by the M models."""
        x = flatten_images(x).to(self.weights[0].dtype)
        m, hidden = self.copies, self.weights[0].shape[1]
        # The first layer reads the shared input: one [B, D] x [D, M * hidden] product.
        first = x @ self.weights[0].reshape(m * hidden, -1).T
        h = torch.tanh(first.reshape(len(x), m, hidden).transpose(0, 1) + self.biases[0][:, None])
        for w, b in zip(self.weights[1:-1], self.biases[1:-1], strict=True):
            h = torch.tanh(torch.baddbmm(b[:, None], h, w.transpose(1, 2)))
        logits = torch.baddbmm(self.biases[-1][:, None], h, self.weights[-1].transpose(1, 2))
        return logits, h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_representation(x)[0]

    def unstack(self, index: int) -> IsometricMLP:
        """Model ``index`` of the stack as a plain :class:`IsometricMLP` (a copy)."""
        model = IsometricMLP(**self.config).to(self.weights[0].device)
        layers = [*model.hidden, model.readout]
        with torch.no_grad():
            for layer, w, b in zip(layers, self.weights, self.biases, strict=True):
                layer.weight.copy_(w[index])
                layer.bias.copy_(b[index])
        return model.eval()


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
