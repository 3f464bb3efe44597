"""Batched image augmentations for self-supervised pretraining: random resized crop and
horizontal flip (one ``grid_sample``), brightness/contrast/saturation/hue jitter, random
grayscale and Gaussian blur, all as tensor operations over the whole batch on its device.

Every random number is drawn on the CPU from an explicit ``torch.Generator`` and then
moved to the images' device, so the same generator state gives the same views on every
device, and no per-sample Python or PIL round trip stands between the data and the model
(docs/design.md: Tensors on the device)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AugmentConfig", "augment", "random_parameters", "to_float"]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (SimCLR's list).

    crop_scale: area fraction of the crop; crop_ratio: aspect ratio range; flip_p:
    horizontal flip probability (0 for digits, whose mirror image is another glyph);
    jitter_p: probability of the colour jitter, whose strengths are brightness, contrast
    and saturation (factors drawn in [1 - s, 1 + s]; saturation only acts on RGB) and hue
    (a rotation of the hue by a fraction of the colour circle drawn in [-hue, hue], as
    torchvision's ColorJitter; RGB only; 0 draws nothing, so the other draws stay as
    they were); grayscale_p: RGB only; blur_p with sigma drawn in blur_sigma (pixels)."""

    crop_scale: tuple[float, float] = (0.3, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.0
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    hue: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        lo, hi = self.crop_ratio
        if not 0 < lo <= hi:
            raise ValueError(f"crop_ratio must satisfy 0 < low <= high, got {self.crop_ratio}")
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        lo, hi = self.blur_sigma
        if not 0 < lo <= hi:
            raise ValueError(f"blur_sigma must satisfy 0 < low <= high, got {self.blur_sigma}")
        if not 0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")

    @classmethod
    def from_dict(cls, cfg: dict | None) -> AugmentConfig:
        """From a config mapping (lists become tuples); unknown keys are an error."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown augmentation key(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def to_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] images -> float32 [0, 1] (other dtypes are taken as already scaled)."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def random_parameters(n: int, cfg: AugmentConfig, gen: torch.Generator) -> dict[str, Tensor]:
    """Every random draw for a batch of ``n`` views, on the CPU, in a fixed order (the hue
    factors last, and only when ``cfg.hue`` > 0: without them there is no ``hue`` key)."""
    area = _uniform(n, *cfg.crop_scale, gen)
    log_ratio = _uniform(n, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), gen)
    ratio = log_ratio.exp()
    # Crop width and height as fractions of the image side (1 = whole image).
    w = (area * ratio).sqrt().clamp(max=1.0)
    h = (area / ratio).sqrt().clamp(max=1.0)
    # Crop centre in grid_sample's [-1, 1] coordinates, keeping the crop inside the image.
    cx = (2 * torch.rand(n, generator=gen) - 1) * (1 - w)
    cy = (2 * torch.rand(n, generator=gen) - 1) * (1 - h)
    flip = torch.rand(n, generator=gen) < cfg.flip_p
    jitter = torch.rand(n, generator=gen) < cfg.jitter_p
    brightness = _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, gen)
    contrast = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, gen)
    saturation = _uniform(n, 1 - cfg.saturation, 1 + cfg.saturation, gen)
    gray = torch.rand(n, generator=gen) < cfg.grayscale_p
    blur = torch.rand(n, generator=gen) < cfg.blur_p
    sigma = _uniform(n, *cfg.blur_sigma, gen)
    params = {
        "w": w,
        "h": h,
        "cx": cx,
        "cy": cy,
        "flip": flip,
        "jitter": jitter,
        "brightness": brightness,
        "contrast": contrast,
        "saturation": saturation,
        "gray": gray,
        "blur": blur,
        "sigma": sigma,
    }
    if cfg.hue > 0:
        params["hue"] = _uniform(n, -cfg.hue, cfg.hue, gen)
    return params


def to_device(p: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """The parameters on ``device`` in one upload: on CUDA each copy from pageable host
    memory makes the host wait for the GPU's queue, and a view has a dozen parameters."""
    if device.type == "cpu":
        return p
    packed = torch.stack([v.float() for v in p.values()]).to(device)
    return {
        k: row > 0.5 if v.dtype == torch.bool else row
        for (k, v), row in zip(p.items(), packed.unbind(0), strict=True)
    }


@cache
def _constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """A small constant tensor, uploaded once per device (not once per call)."""
    return torch.tensor(values, dtype=dtype, device=device)


def crop_flip(x: Tensor, w: Tensor, h: Tensor, cx: Tensor, cy: Tensor, flip: Tensor) -> Tensor:
    """Random resized crop and horizontal flip as one affine resampling to the input size."""
    n = x.shape[0]
    sign = torch.where(flip, -1.0, 1.0).to(x)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = w.to(x) * sign
    theta[:, 0, 2] = cx.to(x)
    theta[:, 1, 1] = h.to(x)
    theta[:, 1, 2] = cy.to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _luma(x: Tensor) -> Tensor:
    if x.shape[1] == 3:
        weights = _constant((0.299, 0.587, 0.114), x.dtype, x.device)
        return (x * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def rgb_to_hsv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Hue (fraction of the circle, in [0, 1)), saturation and value of RGB images
    [N, 3, H, W] in [0, 1], each [N, H, W] (torchvision's conversion)."""
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    delta = maxc - minc
    grey = delta == 0  # no hue: 0, as torchvision
    s = delta / torch.where(grey, 1.0, maxc)
    d = torch.where(grey, 1.0, delta)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    return (h / 6.0 + 1.0).fmod(1.0), s, maxc


def adjust_hue(x: Tensor, factor: Tensor) -> Tensor:
    """RGB images [N, 3, H, W] in [0, 1] with their hue rotated by ``factor`` [N] (fractions
    of the circle): torchvision's ``adjust_hue`` with one factor per sample. Back to RGB
    with the closed form c_n = v (1 - s clamp(min(k, 4 - k), 0, 1)), k = (n + 6h) mod 6,
    n = 5, 3, 1 for R, G, B (no per-sector selection)."""
    h, s, v = rgb_to_hsv(x)
    h = (h + factor.to(x).view(-1, 1, 1)).remainder(1.0)
    n = _constant((5.0, 3.0, 1.0), x.dtype, x.device).view(1, 3, 1, 1)
    k = (n + 6.0 * h.unsqueeze(1)).remainder(6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return v.unsqueeze(1) * (1.0 - s.unsqueeze(1) * ramp)


def colour_jitter(x: Tensor, p: dict[str, Tensor]) -> Tensor:
    """Brightness, contrast, saturation (RGB), hue (RGB, when drawn) and grayscale (RGB),
    each sample its own."""
    shape = (-1, 1, 1, 1)
    on = p["jitter"].to(x.device).view(shape)
    b = torch.where(on, p["brightness"].to(x.device).view(shape), 1.0)
    c = torch.where(on, p["contrast"].to(x.device).view(shape), 1.0)
    x = (x * b.to(x)).clamp(0, 1)
    mean = _luma(x).mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * c.to(x) + mean).clamp(0, 1)
    if x.shape[1] == 3:
        s = torch.where(on, p["saturation"].to(x.device).view(shape), 1.0)
        gray = _luma(x)
        x = ((x - gray) * s.to(x) + gray).clamp(0, 1)
        if "hue" in p:
            x = torch.where(on, adjust_hue(x, p["hue"].to(x.device)), x)
        to_gray = p["gray"].to(x.device).view(shape)
        x = torch.where(to_gray, _luma(x).expand_as(x), x)
    return x


def gaussian_blur(x: Tensor, sigma: Tensor, on: Tensor, max_sigma: float) -> Tensor:
    """Separable Gaussian blur with one sigma per sample, as a grouped convolution over
    the batch; samples with ``on`` False get the identity kernel."""
    n, c, hgt, wid = x.shape
    radius = max(1, min(math.ceil(2 * max_sigma), (min(hgt, wid) - 1) // 2))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    sig = sigma.to(x).view(n, 1)
    kernel = torch.exp(-0.5 * (offsets.view(1, -1) / sig) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)
    delta = (offsets == 0).to(x).expand_as(kernel)
    kernel = torch.where(on.to(x.device).view(n, 1), kernel, delta)
    weight = kernel.repeat_interleave(c, dim=0)  # [n * c, K], one kernel per channel
    flat = x.reshape(1, n * c, hgt, wid)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, weight.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(flat, weight.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, hgt, wid)


def augment(images: Tensor, cfg: AugmentConfig, gen: torch.Generator) -> Tensor:
    """One random view of each image: [B, C, H, W] uint8 or float in [0, 1] -> float32 in
    [0, 1], same shape, on the images' device. Deterministic given ``gen``'s state."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [B, 1 or 3, H, W], got shape {tuple(images.shape)}")
    x = to_float(images)
    p = to_device(random_parameters(x.shape[0], cfg, gen), x.device)
    x = crop_flip(x, p["w"], p["h"], p["cx"], p["cy"], p["flip"])
    x = colour_jitter(x.clamp(0, 1), p)
    if cfg.blur_p > 0:
        x = gaussian_blur(x, p["sigma"], p["blur"], cfg.blur_sigma[1])
    return x.clamp(0, 1)
