"""The displacement regressor: a correlation network (no batch norm or dropout, so
per-sample gradients with torch.func are plain), translation-equivariant by construction.

Two fully convolutional branches (same resolution, zero padding) turn the aerial channels
and the map channels into feature maps F_a, F_m. A correlation layer compares them over
every integer displacement d in [-r, r]^2 (r = ceil(max_shift) + 1, one px of slack so
that the softmax mass of a shift at the bound is not cut off):
C(d) = sum_c mean_p F_a(p) F_m(p + d), p over the inner window of the crop, so F_m is
read inside the crop for every d. A small convolution over the cost volume C (the
refinement) gives per displacement a logit and a sub-pixel offset o(d); the prediction
is the expectation sum_d softmax(logit)(d) (d + o(d)) in pixels, (dx, dy). Moving the
map content by an integer s moves C, the logits and offsets by s in d, hence the
prediction by s (away from the bounds of the range and the crop's borders)."""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from repgeom.io import save_torch
from repgeom.registration.evaluate import rmse
from repgeom.training import TrainRun, TrainSettings, train_model

ARCH_KEYS = ("in_channels", "size", "width", "depth", "refine", "max_shift")
AERIAL_CHANNELS = 3  # the first channels; the rest are the map's (scenes.CHANNELS)
COST_SCALE = 100.0  # the cost volume's scale at initialisation: a softmax that is not flat


def _branch(in_channels: int, width: int, depth: int) -> nn.Sequential:
    """``depth`` 3x3 convolutions to ``width`` channels, ReLU between (not after the last)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1))
        if i < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RegistrationCorrNet(nn.Module):
    """Aerial and map branches (``depth`` 3x3 convolutions of ``width`` channels each), a
    correlation layer over displacements [-r, r]^2, and a refinement (3x3 convolutions
    1 -> ``refine`` -> 3 on the cost volume) giving logits and sub-pixel offsets; the
    output is the soft-argmax expectation in pixels."""

    def __init__(
        self,
        in_channels: int = 5,
        size: int = 24,
        width: int = 8,
        depth: int = 5,
        refine: int = 8,
        max_shift: float = 4.0,
    ):
        super().__init__()
        if in_channels <= AERIAL_CHANNELS:
            raise ValueError(
                f"in_channels must be > {AERIAL_CHANNELS} (aerial + map), got {in_channels}"
            )
        if min(width, depth, refine) < 1 or not max_shift > 0:
            raise ValueError("width, depth, refine must be >= 1 and max_shift > 0")
        radius = math.ceil(max_shift) + 1
        if size - 2 * radius < 1:
            raise ValueError(f"size {size} leaves no inner window for shifts up to {radius} px")
        self.arch = {
            "in_channels": int(in_channels),
            "size": int(size),
            "width": int(width),
            "depth": int(depth),
            "refine": int(refine),
            "max_shift": float(max_shift),
        }
        self.radius = radius
        self.aerial = _branch(AERIAL_CHANNELS, int(width), int(depth))
        self.map = _branch(int(in_channels) - AERIAL_CHANNELS, int(width), int(depth))
        self.refine = nn.Sequential(
            nn.Conv2d(1, int(refine), 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(int(refine), 3, 3, padding=1),
        )
        shifts = torch.arange(-radius, radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(shifts, shifts, indexing="ij")
        self.register_buffer("shifts", torch.stack([dx, dy]).reshape(2, -1), persistent=False)

    def cost_volume(self, x: torch.Tensor) -> torch.Tensor:
        """C [B, 1, 2r+1, 2r+1]: row = dy + r, column = dx + r."""
        x = x - 0.5  # intensities in [0, 1]; centring them speeds up training
        fa = self.aerial(x[:, :AERIAL_CHANNELS])
        fm = self.map(x[:, AERIAL_CHANNELS:])
        b, c, size, _ = fm.shape
        r, inner = self.radius, size - 2 * self.radius
        window = fa[..., r : r + inner, r : r + inner]
        # One grouped convolution: each sample's inner aerial window slides over its map.
        cost = F.conv2d(
            fm.reshape(1, b * c, size, size),
            window.reshape(b * c, 1, inner, inner),
            groups=b * c,
        )
        k = 2 * r + 1
        return cost.reshape(b, c, k, k).sum(1, keepdim=True) * (COST_SCALE / inner**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.refine(self.cost_volume(x)).flatten(2)  # [B, 3, K]: logit, ox, oy
        weights = out[:, 0].softmax(-1)
        return torch.einsum("bk,bck->bc", weights, self.shifts + out[:, 1:])


def build_model(init_seed: int | None = None, **arch) -> RegistrationCorrNet:
    """A model from its build kwargs (``arch``); with ``init_seed`` its initial weights
    depend on that seed only (the global RNG is left untouched)."""
    unknown = sorted(set(arch) - set(ARCH_KEYS))
    if unknown:
        raise ValueError(f"unknown model argument(s) {unknown}; known: {list(ARCH_KEYS)}")
    if init_seed is None:
        return RegistrationCorrNet(**arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(init_seed))
        return RegistrationCorrNet(**arch)


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
    heldout: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[RegistrationCorrNet, list[dict]]:
    """MSE regression of ``labels`` [n, 2] from ``inputs`` [n, C, H, W] with Adam and a
    cosine learning-rate decay to zero over ``epochs``, from ``run``'s seed on its
    device. Returns the model (eval mode) and the per-epoch history of
    repgeom.training.train_model (with each epoch's ``lr``, and ``heldout_rmse``, the
    displacement RMSE on ``heldout`` = (inputs, true), when given)."""
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

    def evaluate(epoch, history):
        if heldout is None:
            return None
        return {"heldout_rmse": rmse(predict(model, heldout[0]), heldout[1])}

    history = train_model(
        model,
        loss_fn,
        (x, y),
        settings,
        generator=run.generator,
        logger=run.log,
        on_epoch_end=evaluate,
    )
    return model.eval(), history


def save_model(
    path: str | os.PathLike,
    model: RegistrationCorrNet,
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


def load_model(path: str | os.PathLike, device: Any = "cpu") -> RegistrationCorrNet:
    """The trained model of ``path`` on ``device``, in eval mode: float [B, C, H, W] -> [B, 2]."""
    obj = load_checkpoint(path)
    model = RegistrationCorrNet(**obj["arch"])
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval()
