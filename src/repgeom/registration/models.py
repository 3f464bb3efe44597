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

import copy
import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from repgeom.io import save_torch
from repgeom.registration.evaluate import rmse
from repgeom.training import TrainRun, TrainSettings, steps_per_epoch, train_model

ARCH_KEYS = ("in_channels", "size", "width", "depth", "refine", "max_shift", "leak")
AERIAL_CHANNELS = 3  # the first channels; the rest are the map's (scenes.CHANNELS)
COST_SCALE = 100.0  # the cost volume's scale at initialisation: a softmax that is not flat


def _branch(in_channels: int, width: int, depth: int, leak: float) -> nn.Sequential:
    """``depth`` 3x3 convolutions to ``width`` channels, leaky ReLU between (not after the
    last)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1))
        if i < depth - 1:
            layers.append(nn.LeakyReLU(leak))
    return nn.Sequential(*layers)


class RegistrationCorrNet(nn.Module):
    """Aerial and map branches (``depth`` 3x3 convolutions of ``width`` channels each), a
    correlation layer over displacements [-r, r]^2, and a refinement (3x3 convolutions
    1 -> ``refine`` -> 3 on the cost volume) giving logits and sub-pixel offsets; the
    output is the soft-argmax expectation in pixels. Activations are leaky ReLUs of
    negative slope ``leak`` (0: plain ReLU, the default of files written before it
    existed). With plain ReLUs a run can die in its first epoch: every unit of a branch
    off, the features constant in space, the cost volume flat (std over shifts 1e-5),
    the prediction the mean displacement and no gradient to recover (one of 27 models of
    the default run at b611c35, held-out R^2 0); a leak keeps a gradient."""

    def __init__(
        self,
        in_channels: int = 5,
        size: int = 24,
        width: int = 8,
        depth: int = 5,
        refine: int = 8,
        max_shift: float = 4.0,
        leak: float = 0.0,
    ):
        super().__init__()
        if in_channels <= AERIAL_CHANNELS:
            raise ValueError(
                f"in_channels must be > {AERIAL_CHANNELS} (aerial + map), got {in_channels}"
            )
        if min(width, depth, refine) < 1 or not max_shift > 0:
            raise ValueError("width, depth, refine must be >= 1 and max_shift > 0")
        if not 0 <= leak < 1:
            raise ValueError(f"leak must be in [0, 1), got {leak}")
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
            "leak": float(leak),
        }
        self.radius = radius
        self.aerial = _branch(AERIAL_CHANNELS, int(width), int(depth), float(leak))
        self.map = _branch(int(in_channels) - AERIAL_CHANNELS, int(width), int(depth), float(leak))
        self.refine = nn.Sequential(
            nn.Conv2d(1, int(refine), 3, padding=1),
            nn.LeakyReLU(float(leak)),
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


class StackedCorrNets(nn.Module):
    """M copies of one :class:`RegistrationCorrNet` trained side by side on the same
    batches (one label set each): every parameter gets a leading model axis and
    torch.func.vmap runs the M models in one pass, so each convolution is one grouped
    convolution over the M models (about 1.5x fewer CPU seconds than M separate runs at
    width 8, measured in benchmarks/registration_stack.py). Adam is elementwise, so
    training the stack is training each model alone, up to the rounding of the grouped
    convolutions. Output [M, B, 2]."""

    def __init__(self, template: RegistrationCorrNet, copies: int):
        super().__init__()
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        self.arch = dict(template.arch)
        self.names = [name for name, _ in template.named_parameters()]
        self.stacked = nn.ParameterList(
            nn.Parameter(p.detach().unsqueeze(0).repeat(copies, *([1] * p.dim())))
            for _, p in template.named_parameters()
        )
        self.register_buffer("shifts", template.shifts.clone(), persistent=False)
        # The module whose forward vmap calls: no tensors of its own (a list keeps it out
        # of parameters() and .to()); functional_call gives it the stack's.
        self._template = [copy.deepcopy(template).to("meta")]

    @property
    def copies(self) -> int:
        return self.stacked[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        template = self._template[0]

        def one(*params: torch.Tensor) -> torch.Tensor:
            tensors = dict(zip(self.names, params, strict=True)) | {"shifts": self.shifts}
            return functional_call(template, tensors, (x,))

        return vmap(one)(*self.stacked)

    def unstack(self, index: int) -> RegistrationCorrNet:
        """Model ``index`` of the stack as a plain :class:`RegistrationCorrNet` (a copy,
        eval mode, on the stack's device)."""
        model = RegistrationCorrNet(**self.arch).to(self.shifts.device)
        state = {name: p[index].detach() for name, p in zip(self.names, self.stacked, strict=True)}
        model.load_state_dict(state)
        return model.eval()


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Predictions [n, 2] (a stack's: [M, n, 2]) on the model's device, in eval mode,
    ``batch`` at a time."""
    model.eval()
    device = next(model.parameters()).device
    outs = [model(inputs[i : i + batch].to(device)) for i in range(0, inputs.shape[0], batch)]
    return torch.cat(outs, dim=-2)


def train_regressors(
    inputs: torch.Tensor,
    label_sets: list[torch.Tensor],
    arch: dict,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    run: TrainRun,
    heldout: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[RegistrationCorrNet, list[dict]]]:
    """One model per label set [n, 2], all from the same initial weights (``run``'s
    seed) on the same batches (``run``'s generator), trained together as a
    :class:`StackedCorrNets`: MSE regression of the labels from ``inputs`` [n, C, H, W]
    with Adam and a cosine learning-rate decay to zero over ``epochs``, on ``run``'s
    device. Returns per label set the model (eval mode) and its per-epoch history:
    epoch, loss (its mean training MSE over the epoch's steps), time_s, lr and
    ``heldout_rmse``, its displacement RMSE on ``heldout`` = (inputs, true), when given."""
    for labels in label_sets:
        if inputs.shape[0] != labels.shape[0] or labels.shape[1:] != (2,):
            raise ValueError(
                f"labels must be [n, 2] for {inputs.shape[0]} inputs, got {tuple(labels.shape)}"
            )
    if not label_sets:
        raise ValueError("train_regressors needs at least one label set")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    template = build_model(init_seed=run.seed, **arch)
    stack = StackedCorrNets(template, len(label_sets)).to(run.device)
    x = inputs.to(run.device)
    y = torch.stack([labels.float() for labels in label_sets], 1).to(run.device)  # [n, M, 2]
    settings = TrainSettings(
        epochs,
        batch_size,
        lr,
        setting="registration.train.lr",
        weight_decay=weight_decay,
        schedule="cosine",
    )
    step_losses: list[torch.Tensor] = []  # [M] per step

    def loss_fn(m, xb, yb):
        losses = (m(xb) - yb.transpose(0, 1)).pow(2).mean((1, 2))  # each model's MSE
        step_losses.append(losses.detach())
        return losses.sum()  # the models share no weight: each gets its own gradient

    def evaluate(epoch, history):
        steps = steps_per_epoch(x.shape[0], batch_size)
        record = {"losses": torch.stack(step_losses[-steps:]).mean(0).tolist()}
        if heldout is not None:
            pred = predict(stack, heldout[0])
            record["heldout_rmse"] = [rmse(p, heldout[1]) for p in pred]
        return record

    history = train_model(
        stack,
        loss_fn,
        (x, y),
        settings,
        generator=run.generator,
        logger=run.log,
        on_epoch_end=evaluate,
    )
    results = []
    for i in range(len(label_sets)):
        own = [
            {k: v for k, v in h.items() if k not in ("losses", "heldout_rmse")}
            | {"loss": h["losses"][i]}
            | ({"heldout_rmse": h["heldout_rmse"][i]} if "heldout_rmse" in h else {})
            for h in history
        ]
        results.append((stack.unstack(i), own))
    return results


def train_regressor(
    inputs: torch.Tensor, labels: torch.Tensor, arch: dict, **kwargs
) -> tuple[RegistrationCorrNet, list[dict]]:
    """One model: :func:`train_regressors` with the single label set ``labels``."""
    return train_regressors(inputs, [labels], arch, **kwargs)[0]


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
