"""Backbones and the projector of the self-supervised pretraining.

- ``cnn``: a small convolutional network for 28x28 grey images (default scale, CPU): conv
  blocks with the given widths and strides, then global average pooling; the first block
  has stride 2 by default because full-resolution convolutions dominate the CPU time;
- ``resnet18``: torchvision's ResNet-18 with the usual CIFAR stem (3x3 stride-1 first
  convolution, no max-pool), the paper preset's backbone;
- projector: Linear (no bias) -> BatchNorm -> ReLU -> Linear, as the authors' NeuralEF
  head with ``--proj_bn`` (every method uses the same one, so only the loss differs)."""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from repgeom.io import save_torch

ARCHS = ("cnn", "resnet18")
DEFAULT_WIDTHS = (16, 32, 64, 128)
DEFAULT_STRIDES = (2, 1, 2, 2)


def _conv_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """3x3 conv-BN-ReLU blocks, then either global average pooling (``feature_dim`` 0)
    or flatten -> Linear -> BN -> ReLU to ``feature_dim`` outputs, which keeps where a
    stroke is (a digit is its layout more than its texture) -> [B, out_dim]."""

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        strides: tuple[int, ...] = DEFAULT_STRIDES,
        feature_dim: int = 0,
        image_size: int = 28,
    ):
        super().__init__()
        if not widths or len(widths) != len(strides):
            raise ValueError(
                f"widths and strides must be non-empty and of equal length, got {widths}, {strides}"
            )
        blocks, cin, side = [], in_channels, image_size
        for cout, stride in zip(widths, strides, strict=True):
            blocks.append(_conv_block(cin, cout, stride))
            cin, side = cout, (side - 1) // stride + 1
        self.features = nn.Sequential(*blocks)
        if feature_dim:
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(cin * side * side, feature_dim, bias=False),
                nn.BatchNorm1d(feature_dim),
                nn.ReLU(inplace=True),
            )
            self.out_dim = feature_dim
        else:
            self.head = None
            self.out_dim = cin

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        return self.head(x) if self.head is not None else x.mean(dim=(2, 3))


def resnet18_cifar(in_channels: int) -> nn.Module:
    """ResNet-18 for 32x32 inputs; ``out_dim`` 512 (the classifier is an identity)."""
    from torchvision.models import resnet18

    net = resnet18(weights=None, zero_init_residual=True)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.out_dim = 512
    return net


def projector(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim),
    )


class SSLModel(nn.Module):
    """Backbone + projector; ``features`` is what the probes see, ``forward`` the code."""

    def __init__(self, backbone: nn.Module, proj_hidden: int, proj_dim: int):
        super().__init__()
        self.backbone = backbone
        self.projector = projector(backbone.out_dim, proj_hidden, proj_dim)

    def features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.projector(self.backbone(x))


def build_model(
    arch: str,
    in_channels: int,
    *,
    proj_hidden: int,
    proj_dim: int,
    widths: tuple[int, ...] | list[int] = DEFAULT_WIDTHS,
    strides: tuple[int, ...] | list[int] = DEFAULT_STRIDES,
    feature_dim: int = 0,
    image_size: int = 28,
) -> SSLModel:
    """The model a method pretrains; the same arguments give the same architecture."""
    if arch == "cnn":
        backbone = SmallCNN(in_channels, tuple(widths), tuple(strides), feature_dim, image_size)
    elif arch == "resnet18":
        backbone = resnet18_cifar(in_channels)
    else:
        raise ValueError(f"unknown arch {arch!r}; known: {ARCHS}")
    if proj_hidden < 1 or proj_dim < 1:
        raise ValueError(f"proj_hidden and proj_dim must be >= 1, got {proj_hidden}, {proj_dim}")
    return SSLModel(backbone, proj_hidden, proj_dim)


def initial_model(spec: dict, in_channels: int, image_size: int, seed: int) -> SSLModel:
    """The model of config ``spec`` (arch, widths, strides, feature_dim, proj_hidden,
    proj_dim) with the initial weights of ``seed``: what every method of that seed starts
    pretraining from, and the untrained backbone the probes are compared with."""
    torch.manual_seed(seed)
    return build_model(
        spec["arch"],
        in_channels,
        proj_hidden=spec["proj_hidden"],
        proj_dim=spec["proj_dim"],
        widths=spec["widths"],
        strides=spec["strides"],
        feature_dim=spec["feature_dim"],
        image_size=image_size,
    )


def to_training_layout(model: nn.Module) -> nn.Module:
    """Convolution weights in channels-last layout (in place; returns ``model``): the
    activations follow, and a CPU training step of the default CNN is ~20% faster (mkldnn
    convolutions work in that layout natively). Results match NCHW to float rounding."""
    return model.to(memory_format=torch.channels_last)


def save_model(path: str | os.PathLike, model: SSLModel, meta: dict) -> None:
    """State dict on the CPU plus what ``load_model`` needs to rebuild the architecture
    (stored contiguous, whatever layout the model was trained in)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_torch(path, {"state_dict": state, "meta": dict(meta)})


def load_model(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[SSLModel, dict]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    meta = obj["meta"]
    model = build_model(
        meta["arch"],
        meta["in_channels"],
        proj_hidden=meta["proj_hidden"],
        proj_dim=meta["proj_dim"],
        widths=meta.get("widths", DEFAULT_WIDTHS),
        strides=meta.get("strides", DEFAULT_STRIDES),
        feature_dim=meta.get("feature_dim", 0),
        image_size=meta.get("image_size", 28),
    )
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval(), meta
