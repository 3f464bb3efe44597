"""Generated multimodal registration scenes with exact ground truth (a stand-in for the
paper's aerial images and OpenStreetMap building polygons, which cannot be had offline).

A scene holds ``grid x grid`` random buildings (rotated rectangles and L-shapes), one per
cell of a jittered grid. A sample is a crop around one building (``crops_per_building``
crops with integer jitter) of two modalities, stacked as channels
[A_r, A_g, A_b, B_fill, B_edge]:

* A, the "aerial" image: smooth textured background, cast shadows, shaded roofs of
  random colours, Gaussian blur and sensor noise, at the buildings' true positions;
* B, the "map" raster: fill and edge channels of the same polygons, each moved by the
  crop's global shift g (uniform in a square) plus, optionally, a smooth displacement
  field of the scene evaluated at that building's centre.

The sample's exact target is g + field(centre of the building it is centred on).
The network sees the pair and predicts d (the displacement of the map relative to the
image, in pixels, (dx, dy) = (column, row)). Training labels are d plus noise drawn by
:func:`noisy_labels`, i.i.d. per sample or shared by the samples of one building.

Everything is batched tensor code; every random stream has its own seeded generator, so
a split of a seed is the same whatever else is generated."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CHANNELS = ("aerial_r", "aerial_g", "aerial_b", "map_fill", "map_edge")
NOISES = ("iid", "building")
SPLITS = {"train": 0, "test": 1, "extra": 2}
LABEL_STREAM = 100
MAX_VERTICES = 6

GENERATOR_DEFAULTS = {
    "grid": 3,  # buildings per scene: grid x grid
    "cell": 24,  # px per grid cell
    "crop_size": 24,  # sample height = width
    "crops_per_building": 2,
    "jitter": 4,  # max integer offset of a crop centre from its building's centre, px
    "max_shift": 4.0,  # |dx|, |dy| <= max_shift, px
    "field_amplitude": 0.0,  # smooth displacement field amplitude (px, per component)
    "min_half_size": 3.0,  # building half-extent range, px
    "max_half_size": 7.0,
    "blur": 0.7,  # aerial Gaussian blur sigma, px
    "sensor_noise": 0.03,  # aerial pixel noise std (intensities in [0, 1])
    "shadow_length": 2.5,  # cast shadow offset, px
}


def stream(seed: int, which: int) -> torch.Generator:
    """A CPU generator for one independent random stream of ``seed``."""
    state = np.random.SeedSequence([int(seed), int(which)]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator()
    gen.manual_seed(int(state[0]) << 32 | int(state[1]))
    return gen


def generator_settings(**kwargs) -> dict:
    """The defaults updated with ``kwargs``; unknown or inconsistent keys raise ValueError."""
    unknown = sorted(set(kwargs) - set(GENERATOR_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown generator setting(s) {unknown}; known: {list(GENERATOR_DEFAULTS)}"
        )
    cfg = {**GENERATOR_DEFAULTS, **kwargs}
    for key in ("grid", "cell", "crop_size", "crops_per_building"):
        if int(cfg[key]) < 1:
            raise ValueError(f"generator setting {key!r} must be >= 1, got {cfg[key]}")
    if cfg["crop_size"] % 8:
        raise ValueError(
            f"generator setting 'crop_size' must be a multiple of 8, got {cfg['crop_size']}"
        )
    if not 0 <= cfg["field_amplitude"] < cfg["max_shift"]:
        raise ValueError("generator setting 'field_amplitude' must be in [0, max_shift)")
    if not 0 < cfg["min_half_size"] <= cfg["max_half_size"]:
        raise ValueError("generator settings need 0 < min_half_size <= max_half_size")
    if min(cfg["jitter"], cfg["blur"], cfg["sensor_noise"], cfg["shadow_length"]) < 0:
        raise ValueError(
            "generator settings jitter, blur, sensor_noise, shadow_length must be >= 0"
        )
    return cfg


def scene_size(cfg: dict) -> int:
    """Scene side: the grid plus a border wide enough for every crop."""
    pad = cfg["crop_size"] // 2 + int(cfg["jitter"]) + 2
    return int(cfg["grid"] * cfg["cell"] + 2 * pad)


# ----------------------------------------------------------------------------- geometry


def random_buildings(n_scenes: int, cfg: dict, gen: torch.Generator) -> dict:
    """Polygons [N, B, 6, 2] (x, y in px, scene frame), centres [N, B, 2], kinds [N, B]
    (0 rectangle, 1 L-shape; rectangles repeat their last vertex)."""
    k, cell = int(cfg["grid"]), float(cfg["cell"])
    b = k * k
    lo, hi = cfg["min_half_size"], cfg["max_half_size"]
    half = lo + (hi - lo) * torch.rand(n_scenes, b, 2, generator=gen)
    # Keep the rotated footprint inside its cell: scale down oversize buildings.
    room = cell / 2 - 1.0
    scale = torch.clamp(room / half.norm(dim=-1), max=1.0)
    half = half * scale[..., None]
    angle = torch.rand(n_scenes, b, generator=gen) * math.pi
    kind = (torch.rand(n_scenes, b, generator=gen) < 0.5).long()
    notch = 0.3 + 0.4 * torch.rand(n_scenes, b, 2, generator=gen)  # fraction cut off (L)
    slack = (room - half.norm(dim=-1)).clamp(min=0)
    offset = (torch.rand(n_scenes, b, 2, generator=gen) * 2 - 1) * slack[..., None]
    pad = scene_size(cfg) / 2 - k * cell / 2
    ij = torch.stack(torch.meshgrid(torch.arange(k), torch.arange(k), indexing="xy"), -1)
    centre = pad + (ij.reshape(b, 2).float() + 0.5) * cell + offset
    local = _local_polygons(half, notch, kind)
    cos, sin = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x, y = local[..., 0], local[..., 1]
    rotated = torch.stack([cos * x - sin * y, sin * x + cos * y], -1)
    return {"vertices": rotated + centre[:, :, None], "centre": centre, "kind": kind}


def _local_polygons(half: torch.Tensor, notch: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
    """Vertices [N, B, 6, 2] around the origin: a rectangle or a rectangle with a notch."""
    w, h = half[..., 0], half[..., 1]
    nw, nh = 2 * w * notch[..., 0], 2 * h * notch[..., 1]
    rect = torch.stack(
        [torch.stack(p, -1) for p in [(-w, -h), (w, -h), (w, h), (-w, h), (-w, h), (-w, h)]], -2
    )
    ell = torch.stack(
        [
            torch.stack(p, -1)
            for p in [(-w, -h), (w, -h), (w, h - nh), (w - nw, h - nh), (w - nw, h), (-w, h)]
        ],
        -2,
    )
    return torch.where(kind[..., None, None].bool(), ell, rect)


def smooth_field(centre: torch.Tensor, cfg: dict, gen: torch.Generator) -> torch.Tensor:
    """Smooth displacement field [N, B, 2] at the building centres: per scene and
    component a * sin(k . x + phi) with one random low frequency (|value| <= a)."""
    n = centre.shape[0]
    amp = float(cfg["field_amplitude"])
    size = scene_size(cfg)
    freq = (0.5 + torch.rand(n, 1, 2, 2, generator=gen)) * 2 * math.pi / size  # [N,1,comp,xy]
    direction = torch.sign(torch.rand(n, 1, 2, 2, generator=gen) - 0.5)
    phase = torch.rand(n, 1, 2, generator=gen) * 2 * math.pi
    arg = (freq * direction * centre[:, :, None, :]).sum(-1) + phase
    return amp * torch.sin(arg)


def signed_distance(vertices: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) of ``points`` [P, 2] to polygons [..., V, 2]:
    the minimum distance to the edges, signed by the crossing-number inside test."""
    a = vertices[..., None, :, :]  # [..., 1, V, 2]
    b = torch.roll(vertices, -1, dims=-2)[..., None, :, :]
    p = points[:, None, :]  # [P, 1, 2]
    ab, ap = b - a, p - a
    denom = (ab * ab).sum(-1).clamp(min=1e-12)
    t = ((ap * ab).sum(-1) / denom).clamp(0, 1)
    dist = (ap - t[..., None] * ab).norm(dim=-1).min(dim=-1).values  # [..., P]
    ay, by, py = a[..., 1], b[..., 1], p[..., 1]
    straddle = (ay > py) != (by > py)
    x_cross = a[..., 0] + (py - ay) * ab[..., 0] / torch.where(straddle, ab[..., 1], 1.0)
    crossings = (straddle & (p[..., 0] < x_cross)).sum(-1)
    inside = crossings % 2 == 1
    return torch.where(inside, -dist, dist)


def _pixel_centres(size: int) -> torch.Tensor:
    u = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    return torch.stack([xx.ravel(), yy.ravel()], -1)  # (x, y) = (column, row)


def coverage(sd: torch.Tensor) -> torch.Tensor:
    """Anti-aliased fill (about the pixel's area inside) from a signed distance."""
    return (0.5 - sd).clamp(0, 1)


# ----------------------------------------------------------------------------- rendering


def _windows(cfg: dict) -> tuple[int, list[tuple[int, int]]]:
    """Side and top-left (x0, y0) of each building's window: its grid cell grown by the
    largest displacement and shadow offset. A building only touches pixels of its window,
    so signed distances are computed there instead of over the whole scene."""
    k, cell = int(cfg["grid"]), int(cfg["cell"])
    margin = math.ceil(cfg["max_shift"] + cfg["shadow_length"]) + 2
    pad = (scene_size(cfg) - k * cell) // 2
    side = cell + 2 * margin
    corners = [
        (pad + i * cell - margin, pad + j * cell - margin) for j in range(k) for i in range(k)
    ]
    return side, corners


def _window_sd(vertices: torch.Tensor, cfg: dict) -> list[tuple[int, int, torch.Tensor]]:
    """Per building b: (x0, y0, signed distance [N, W, W]) of polygons [N, B, V, 2]."""
    side, corners = _windows(cfg)
    grid = _pixel_centres(side)
    out = []
    for b, (x0, y0) in enumerate(corners):
        offset = torch.tensor([x0, y0], dtype=vertices.dtype)
        sd = signed_distance(vertices[:, b] - offset, grid).reshape(-1, side, side)
        out.append((x0, y0, sd))
    return out


def _paste_max(canvas: torch.Tensor, x0: int, y0: int, patch: torch.Tensor) -> None:
    """canvas[..., y0:y0+W, x0:x0+W] = max(canvas there, patch), in place."""
    h, w = patch.shape[-2:]
    region = canvas[..., y0 : y0 + h, x0 : x0 + w]
    torch.maximum(region, patch, out=region)


def render_map(vertices: torch.Tensor, cfg: dict) -> torch.Tensor:
    """Map raster [N, 2, S, S] of a whole scene: fill and a 1-px edge channel of
    polygons [N, B, V, 2] (used for scene-level checks; samples use render_map_crops)."""
    size = scene_size(cfg)
    out = torch.zeros(vertices.shape[0], 2, size, size)
    for x0, y0, sd in _window_sd(vertices, cfg):
        _paste_max(out[:, 0], x0, y0, coverage(sd))
        _paste_max(out[:, 1], x0, y0, (1 - sd.abs()).clamp(0, 1))
    return out


def render_map_crops(vertices: torch.Tensor, top_left: torch.Tensor, crop: int) -> torch.Tensor:
    """Map raster [M, 2, c, c] of crops: polygons [M, B, V, 2] (already displaced) seen
    through crop windows whose top-left pixel is ``top_left`` [M, 2] (x, y)."""
    local = vertices - top_left[:, None, None, :].to(vertices.dtype)
    sd = signed_distance(local, _pixel_centres(crop)).reshape(*vertices.shape[:2], crop, crop)
    fill = coverage(sd).amax(1)
    edge = (1 - sd.abs()).clamp(0, 1).amax(1)
    return torch.stack([fill, edge], 1)


def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return img
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=img.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = img.shape[1]
    kx, ky = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    img = F.conv2d(F.pad(img, (r, r, 0, 0), mode="replicate"), kx, groups=c)
    return F.conv2d(F.pad(img, (0, 0, r, r), mode="replicate"), ky, groups=c)


def _background(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth textured ground [N, 3, S, S]: two colours mixed by low-frequency noise,
    plus fine grain."""
    grass = torch.tensor([0.30, 0.42, 0.22]) + 0.08 * torch.randn(n, 3, generator=gen)
    paved = torch.tensor([0.55, 0.53, 0.50]) + 0.08 * torch.randn(n, 3, generator=gen)
    low = torch.randn(n, 1, 6, 6, generator=gen)
    mix = torch.sigmoid(2 * F.interpolate(low, size=(size, size), mode="bicubic"))
    ground = mix * grass[:, :, None, None] + (1 - mix) * paved[:, :, None, None]
    grain = _gaussian_blur(torch.randn(n, 3, size, size, generator=gen), 1.0)
    return ground + 0.06 * grain


def render_aerial(buildings: dict, cfg: dict, gen: torch.Generator) -> torch.Tensor:
    """Aerial image [N, 3, S, S] in [0, 1] of buildings at their true positions: ground,
    cast shadows (sun direction per scene), roofs of random colours shaded across the sun
    direction, then blur and sensor noise."""
    vertices, centre = buildings["vertices"], buildings["centre"]
    n, b = vertices.shape[:2]
    size = scene_size(cfg)
    img = _background(n, size, gen)
    sun = torch.rand(n, generator=gen) * 2 * math.pi
    sun_dir = torch.stack([torch.cos(sun), torch.sin(sun)], -1)  # [N, 2]
    shadow = torch.zeros(n, 1, size, size)
    cast = vertices + cfg["shadow_length"] * sun_dir[:, None, None, :]
    for x0, y0, sd in _window_sd(cast, cfg):
        _paste_max(shadow[:, 0], x0, y0, coverage(sd))
    img = img * (1 - 0.45 * shadow)
    base = 0.35 + 0.5 * torch.rand(n, b, 1, generator=gen)
    roof = base + 0.12 * torch.randn(n, b, 3, generator=gen)
    side, _ = _windows(cfg)
    grid = _pixel_centres(side)
    for j, (x0, y0, sd) in enumerate(_window_sd(vertices, cfg)):
        rel = grid[None] + torch.tensor([x0, y0]) - centre[:, j, None, :]  # [N, P, 2]
        along = -(rel * sun_dir[:, None, :]).sum(-1).reshape(n, 1, side, side)
        colour = roof[:, j, :, None, None] * (1 + 0.25 * torch.tanh(along / 3.0))
        alpha = coverage(sd)[:, None]
        region = img[..., y0 : y0 + side, x0 : x0 + side]
        region.mul_(1 - alpha).add_(colour * alpha)
    img = _gaussian_blur(img, float(cfg["blur"]))
    img = img + cfg["sensor_noise"] * torch.randn(img.shape, generator=gen)
    return img.clamp(0, 1)


def render_scenes(n_scenes: int, cfg: dict, gen: torch.Generator) -> dict:
    """``n_scenes`` scenes: aerial [N,3,S,S] at the true positions, buildings (vertices,
    centre, kind) and the smooth field [N,B,2] at each building centre."""
    buildings = random_buildings(n_scenes, cfg, gen)
    field = smooth_field(buildings["centre"], cfg, gen)
    return {"aerial": render_aerial(buildings, cfg, gen), "field": field, **buildings}


def crop_samples(scenes: dict, cfg: dict, gen: torch.Generator) -> dict:
    """``crops_per_building`` crops around each building (integer jitter). Each crop has
    its own global shift g ~ U[-(max_shift - a), max_shift - a]^2; in its map every
    building b' is moved by g + field(b'), and its target is g + field(b) of the building
    it is centred on. Returns inputs [n, 5, c, c] (aerial RGB, map fill, map edge),
    true [n, 2] (dx, dy) and building [n] (scene * B + b)."""
    n, b = scenes["centre"].shape[:2]
    k, c, jit = int(cfg["crops_per_building"]), int(cfg["crop_size"]), int(cfg["jitter"])
    size = scenes["aerial"].shape[-1]
    m = n * b * k
    centre = scenes["centre"].round().long()[:, :, None, :].expand(n, b, k, 2)
    offset = torch.randint(-jit, jit + 1, (n, b, k, 2), generator=gen)
    top_left = (centre + offset - c // 2).clamp(0, size - c).reshape(m, 2)
    bound = float(cfg["max_shift"]) - float(cfg["field_amplitude"])
    shift = (torch.rand(m, 2, generator=gen) * 2 - 1) * bound
    scene_idx = torch.arange(n).repeat_interleave(b * k)
    ar = torch.arange(c)
    rows = (top_left[:, 1, None] + ar)[:, :, None]
    cols = (top_left[:, 0, None] + ar)[:, None, :]
    aerial = scenes["aerial"].permute(0, 2, 3, 1)[scene_idx[:, None, None], rows, cols]
    disp = shift[:, None, :] + scenes["field"][scene_idx]  # [m, B, 2] per building
    moved = scenes["vertices"][scene_idx] + disp[:, :, None, :]
    maps = render_map_crops(moved, top_left, c)
    own = torch.arange(b).repeat_interleave(k).repeat(n)
    true = disp[torch.arange(m), own]
    return {
        "inputs": torch.cat([aerial.permute(0, 3, 1, 2), maps], 1).contiguous().float(),
        "true": true.contiguous().float(),
        "building": torch.arange(n * b).repeat_interleave(k).long(),
    }


def make_split(seed: int, split: str, n_scenes: int, chunk: int = 16, **generator_kwargs) -> dict:
    """Samples of ``n_scenes`` scenes of one split ("train", "test", "extra") of ``seed``;
    rendered ``chunk`` scenes at a time to bound memory."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if int(n_scenes) < 1:
        raise ValueError(f"n_scenes must be >= 1, got {n_scenes}")
    cfg = generator_settings(**generator_kwargs)
    gen = stream(seed, SPLITS[split])
    parts = []
    for start in range(0, int(n_scenes), chunk):
        scenes = render_scenes(min(chunk, int(n_scenes) - start), cfg, gen)
        part = crop_samples(scenes, cfg, gen)
        part["building"] += start * int(cfg["grid"]) ** 2
        parts.append(part)
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def samples_per_scene(**generator_kwargs) -> int:
    cfg = generator_settings(**generator_kwargs)
    return int(cfg["grid"]) ** 2 * int(cfg["crops_per_building"])


def make_samples(n: int, seed: int, split: str = "extra", **generator_kwargs) -> dict:
    """Exactly ``n`` samples (inputs, true, building) from fresh scenes of ``seed``:
    the first n of ceil(n / samples per scene) scenes of the given split."""
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    n_scenes = math.ceil(int(n) / samples_per_scene(**generator_kwargs))
    data = make_split(seed, split, n_scenes, **generator_kwargs)
    return {key: value[: int(n)] for key, value in data.items()}


def make_dataset(seed: int, n_train_scenes: int, n_test_scenes: int, **generator_kwargs) -> dict:
    """{"train", "test", "meta"}: held-out test scenes come from their own stream."""
    cfg = generator_settings(**generator_kwargs)
    return {
        "train": make_split(seed, "train", n_train_scenes, **cfg),
        "test": make_split(seed, "test", n_test_scenes, **cfg),
        "meta": {
            "seed": int(seed),
            "channels": list(CHANNELS),
            "n_train_scenes": int(n_train_scenes),
            "n_test_scenes": int(n_test_scenes),
            "scene_size": scene_size(cfg),
            "generator": cfg,
        },
    }


def noisy_labels(
    true: torch.Tensor, building: torch.Tensor, sigma: float, noise: str, seed: int
) -> torch.Tensor:
    """true + sigma * z, z ~ N(0, I) drawn per sample ("iid") or per building id and
    shared by its samples ("building"). z depends on (seed, noise) only, so the sigma
    sweep rescales one draw (common random numbers across sigma)."""
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    gen = stream(seed, LABEL_STREAM + NOISES.index(noise))
    if noise == "iid":
        z = torch.randn(true.shape[0], 2, generator=gen)
    else:
        ids, inverse = torch.unique(building.cpu(), return_inverse=True)
        z = torch.randn(ids.shape[0], 2, generator=gen)[inverse]
    return (true.cpu().float() + float(sigma) * z).to(true.device)


def label_key(noise: str, sigma: float) -> tuple[str, float]:
    """Which label set a (noise, sigma) run trains on: itself, except that at sigma = 0
    the labels are the truth in every noise mode, so every mode's key is ("iid", 0.0)
    (one model serves them all)."""
    return (str(noise), float(sigma)) if float(sigma) > 0 else ("iid", 0.0)
