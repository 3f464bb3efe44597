"""Manifold data x = G(gamma, theta), all from a seed: gamma identifies the manifold
(class), theta moves the input along it. Two generators share one interface
(``gamma_dim``, ``theta_dim``, ``sample_shape``, ``render(gamma, theta)``):

* ``RandNetManifolds``: x = W2 tanh(W1 [gamma; theta]), fixed Gaussian weights scaled by
  1/sqrt(fan-in), gamma and theta ~ N(0, I).
* ``ImageManifolds``: gamma ~ N(0, I) is the code of a canonical image (a random smooth
  coloured object: outline and texture are fixed smooth functions of gamma); theta ~ N(0, I)
  (16 numbers) sets the pose (rotation, translation, scale), the lighting (gain and a
  linear ramp) and the background (colour and a smooth pattern). Rendering is batched
  (affine_grid / grid_sample).

Every random stream (generator structure, gammas, thetas of each split) has its own
seeded torch.Generator, so gamma and theta are drawn independently of each other."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

GENERATORS = ("randnet", "image")

# Independent random streams of one seed (a new stream takes the next number, so the
# draws of the others stay the same).
STRUCTURE, TRAIN_GAMMA, TRAIN_THETA, UNSEEN_GAMMA, UNSEEN_THETA, PAIR_GAMMA, PAIR_THETA = range(7)
HELDOUT_THETA = 7


def stream(seed: int, which: int) -> torch.Generator:
    """A CPU generator for one stream of ``seed`` (numpy SeedSequence keeps them apart)."""
    state = np.random.SeedSequence([int(seed), int(which)]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator()
    gen.manual_seed(int(state[0]) << 32 | int(state[1]))
    return gen


class RandNetManifolds:
    """x = W2 tanh(W1 [gamma; theta]) with W1 ~ N(0, 1/(dg+dt)), W2 ~ N(0, 1/hidden)."""

    def __init__(
        self,
        seed: int,
        gamma_dim: int = 16,
        theta_dim: int = 16,
        hidden_dim: int = 256,
        input_dim: int = 128,
    ):
        gen = stream(seed, STRUCTURE)
        fan_in = gamma_dim + theta_dim
        self.gamma_dim, self.theta_dim = gamma_dim, theta_dim
        self.sample_shape = (input_dim,)
        self.w1 = torch.randn(hidden_dim, fan_in, generator=gen) / math.sqrt(fan_in)
        self.w2 = torch.randn(input_dim, hidden_dim, generator=gen) / math.sqrt(hidden_dim)

    def render(self, gamma: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """[B, gamma_dim], [B, theta_dim] -> [B, input_dim] float32."""
        h = torch.tanh(torch.cat([gamma, theta], dim=1) @ self.w1.T)
        return h @ self.w2.T


def _plane_waves(gen, n, size, fmin, fmax) -> torch.Tensor:
    """[n, size, size] cosines with random directions, frequencies (cycles per image
    width in [fmin, fmax]) and phases on the grid [-1, 1]^2."""
    u = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    angle = torch.rand(n, generator=gen) * 2 * math.pi
    freq = fmin + (fmax - fmin) * torch.rand(n, generator=gen)
    phase = torch.rand(n, generator=gen) * 2 * math.pi
    kx, ky = freq * torch.cos(angle) * math.pi, freq * torch.sin(angle) * math.pi
    return torch.cos(kx[:, None, None] * xx + ky[:, None, None] * yy + phase[:, None, None])


class ImageManifolds:
    """Smooth coloured objects (gamma) under pose, lighting and background changes (theta).

    theta (16 numbers, each N(0, 1)): [0] rotation, [1:3] translation, [3] log-scale,
    [4] light gain, [5:7] light ramp, [7:10] background colour, [10:16] background pattern."""

    THETA_DIM = 16
    N_TEXTURE = 16
    N_BACKGROUND = 6
    HARMONICS = (2, 3, 4)

    def __init__(
        self,
        seed: int,
        gamma_dim: int = 16,
        size: int = 32,
        rotation: float = 0.5,
        translation: float = 0.15,
        log_scale: float = 0.15,
        lighting: float = 0.3,
        background: float = 1.0,
    ):
        gen = stream(seed, STRUCTURE)
        self.gamma_dim, self.theta_dim, self.size = gamma_dim, self.THETA_DIM, size
        self.sample_shape = (3, size, size)
        self.rotation, self.translation, self.log_scale = rotation, translation, log_scale
        self.lighting, self.background = lighting, background
        scale = 1 / math.sqrt(gamma_dim)
        self.texture = _plane_waves(gen, self.N_TEXTURE, size, 0.5, 2.5)  # [F, s, s]
        self.tex_map = torch.randn(3 * self.N_TEXTURE, gamma_dim, generator=gen) * scale
        self.colour_map = torch.randn(3, gamma_dim, generator=gen) * scale
        self.shape_map = torch.randn(2 * len(self.HARMONICS), gamma_dim, generator=gen) * scale
        self.bg_pattern = _plane_waves(gen, self.N_BACKGROUND, size, 0.3, 1.5)
        u = torch.linspace(-1, 1, size)
        yy, xx = torch.meshgrid(u, u, indexing="ij")
        self.xx, self.yy = xx, yy
        self.radius, self.phi = torch.sqrt(xx**2 + yy**2), torch.atan2(yy, xx)

    def canonical(self, gamma: torch.Tensor) -> torch.Tensor:
        """[B, gamma_dim] -> [B, 4, s, s]: the object's RGB and its alpha mask."""
        b = gamma.shape[0]
        coef = 0.1 * (gamma @ self.shape_map.T)  # [B, 2H]
        outline = torch.ones(b, self.size, self.size)
        for i, k in enumerate(self.HARMONICS):
            outline = outline + coef[:, 2 * i, None, None] * torch.cos(k * self.phi)
            outline = outline + coef[:, 2 * i + 1, None, None] * torch.sin(k * self.phi)
        mask = torch.sigmoid((0.62 * outline - self.radius) / 0.03)
        tex = (gamma @ self.tex_map.T).reshape(b, 3, self.N_TEXTURE)
        field = torch.einsum("bcf,fhw->bchw", tex, self.texture) / math.sqrt(self.N_TEXTURE)
        base = (gamma @ self.colour_map.T)[:, :, None, None]
        rgb = torch.sigmoid(1.5 * base + 2.5 * field)
        return torch.cat([rgb, mask[:, None]], dim=1)

    def compose(self, obj: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Canonical objects [B, 4, s, s] under transformations theta [B, 16] -> [B, 3, s, s]."""
        rot = self.rotation * theta[:, 0]
        shift = self.translation * theta[:, 1:3]
        scale = torch.exp(self.log_scale * theta[:, 3])
        cos, sin = torch.cos(rot), torch.sin(rot)
        # affine_grid maps output to input coordinates: p_in = R(-rot) (p_out - shift) / scale.
        inv = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
        inv = inv / scale[:, None, None]
        offset = -(inv @ shift[:, :, None])
        grid = F.affine_grid(torch.cat([inv, offset], 2), list(obj.shape), align_corners=False)
        warped = F.grid_sample(
            obj, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        rgb, mask = warped[:, :3], warped[:, 3:]
        gain = torch.exp(self.lighting * theta[:, 4])[:, None, None]
        ramp = 1 + self.lighting * (
            theta[:, 5, None, None] * self.xx + theta[:, 6, None, None] * self.yy
        )
        lit = (rgb * (gain * ramp).clamp_min(0)[:, None]).clamp(0, 1)
        pattern = torch.einsum("bj,jhw->bhw", theta[:, 10:16], self.bg_pattern)
        bg = torch.sigmoid(
            self.background * (0.8 * theta[:, 7:10, None, None] + 0.5 * pattern[:, None])
        )
        return mask * lit + (1 - mask) * bg

    def render(self, gamma: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return self.compose(self.canonical(gamma), theta)


def make_generator(kind: str, seed: int, **kwargs):
    if kind == "randnet":
        return RandNetManifolds(seed, **kwargs)
    if kind == "image":
        return ImageManifolds(seed, **kwargs)
    raise ValueError(f"unknown generator {kind!r}; expected one of {GENERATORS}")


def _render_classes(gen_model, gamma, theta, per_class: int, chunk: int = 2048):
    """gamma [K, dg], theta [K * per_class, dt] -> x [K * per_class, ...]; each gamma
    is repeated for its ``per_class`` consecutive thetas."""
    out = []
    rep = gamma.repeat_interleave(per_class, dim=0)
    for start in range(0, rep.shape[0], chunk):
        out.append(gen_model.render(rep[start : start + chunk], theta[start : start + chunk]))
    return torch.cat(out) if out else torch.empty(0, *gen_model.sample_shape)


def _store(kind: str, x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] are kept as uint8 (4x smaller); vectors as float32."""
    if kind == "image":
        return (x * 255).round().clamp(0, 255).to(torch.uint8)
    return x.float()


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Stored samples -> float32 model inputs (uint8 images to [0, 1])."""
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def manifolds(g, n: int, per_manifold: int, gamma_gen, theta_gen):
    """``n`` manifolds (gamma drawn from ``gamma_gen``) with ``per_manifold`` samples each
    (theta from ``theta_gen``), manifold-major: (gamma, theta, x)."""
    gamma = torch.randn(n, g.gamma_dim, generator=gamma_gen)
    theta = torch.randn(n * per_manifold, g.theta_dim, generator=theta_gen)
    return gamma, theta, _render_classes(g, gamma, theta, per_manifold)


def manifold_pairs(g, seed: int, rho_levels, pairs_per_level: int, samples_per_pair: int):
    """``pairs_per_level`` pairs of manifolds per rho, their gammas correlated by rho
    (gamma_b = rho gamma_a + sqrt(1 - rho^2) xi): (rho, gamma_a, gamma_b, x_a, x_b) with
    ``samples_per_pair`` samples of each manifold."""
    dg, dt = g.gamma_dim, g.theta_dim
    rho = torch.tensor(list(rho_levels), dtype=torch.float32).repeat_interleave(pairs_per_level)
    pg = stream(seed, PAIR_GAMMA)
    gamma_a = torch.randn(rho.numel(), dg, generator=pg)
    xi = torch.randn(rho.numel(), dg, generator=pg)
    gamma_b = rho[:, None] * gamma_a + torch.sqrt((1 - rho**2).clamp_min(0))[:, None] * xi
    pt = stream(seed, PAIR_THETA)
    theta_a = torch.randn(rho.numel() * samples_per_pair, dt, generator=pt)
    theta_b = torch.randn(rho.numel() * samples_per_pair, dt, generator=pt)
    x_a = _render_classes(g, gamma_a, theta_a, samples_per_pair)
    x_b = _render_classes(g, gamma_b, theta_b, samples_per_pair)
    return rho, gamma_a, gamma_b, x_a, x_b


def canonical_objects(g, gamma: torch.Tensor) -> torch.Tensor:
    """The canonical objects of image manifolds ``gamma`` (theta = 0) on a plain mid-grey
    background, stored as uint8."""
    obj = g.canonical(gamma)
    grey = torch.full_like(obj[:, :3], 0.5)
    return _store("image", obj[:, 3:] * obj[:, :3] + (1 - obj[:, 3:]) * grey)


def make_dataset(
    kind: str,
    seed: int,
    *,
    n_classes: int,
    samples_per_class: int,
    n_unseen: int,
    samples_per_unseen: int,
    rho_levels: Sequence[float],
    pairs_per_level: int,
    samples_per_pair: int,
    heldout_per_class: int = 0,
    n_canonical: int = 8,
    generator_kwargs: dict | None = None,
) -> dict:
    """Seen manifolds (training set, class-major so the first C * k rows are classes
    0..C-1), ``heldout_per_class`` further theta draws of every seen manifold (the
    held-out-theta set, class-major too; its own theta stream), unseen manifolds
    (one-shot pool), and pairs of manifolds whose gammas correlate by rho
    (gamma_b = rho gamma_a + sqrt(1 - rho^2) xi, so both are N(0, I))."""
    if not all(-1 <= r <= 1 for r in rho_levels):
        raise ValueError(f"rho_levels must lie in [-1, 1], got {list(rho_levels)}")
    g = make_generator(kind, seed, **(generator_kwargs or {}))
    gamma_train, theta_train, x_train = manifolds(
        g, n_classes, samples_per_class, stream(seed, TRAIN_GAMMA), stream(seed, TRAIN_THETA)
    )
    y_train = torch.arange(n_classes).repeat_interleave(samples_per_class)
    theta_heldout = torch.randn(
        n_classes * heldout_per_class, g.theta_dim, generator=stream(seed, HELDOUT_THETA)
    )
    x_heldout = _render_classes(g, gamma_train, theta_heldout, heldout_per_class)
    gamma_unseen, theta_unseen, x_unseen = manifolds(
        g, n_unseen, samples_per_unseen, stream(seed, UNSEEN_GAMMA), stream(seed, UNSEEN_THETA)
    )
    rho, gamma_a, gamma_b, x_a, x_b = manifold_pairs(
        g, seed, rho_levels, pairs_per_level, samples_per_pair
    )

    def per_manifold(t, k):
        return t.reshape(-1, k, *t.shape[1:])

    data = {
        "kind": kind,
        "seed": int(seed),
        "x_train": _store(kind, x_train),
        "y_train": y_train,
        "gamma_train": gamma_train,
        "theta_train": theta_train,
        "x_heldout": _store(kind, x_heldout),
        "y_heldout": torch.arange(n_classes).repeat_interleave(heldout_per_class),
        "theta_heldout": theta_heldout,
        "x_unseen": per_manifold(_store(kind, x_unseen), samples_per_unseen),
        "gamma_unseen": gamma_unseen,
        "theta_unseen": per_manifold(theta_unseen, samples_per_unseen),
        "x_pair_a": per_manifold(_store(kind, x_a), samples_per_pair),
        "x_pair_b": per_manifold(_store(kind, x_b), samples_per_pair),
        "gamma_pair_a": gamma_a,
        "gamma_pair_b": gamma_b,
        "pair_rho": rho,
    }
    if kind == "image":
        data["canonical_unseen"] = canonical_objects(g, gamma_unseen[:n_canonical])
    return data


def save_dataset(path, data: dict) -> None:
    from repgeom.io import save_torch

    save_torch(path, data)


def load_dataset(path, device: torch.device | str = "cpu") -> dict:
    """A file written by ``save_dataset``; tensors moved to ``device``."""
    obj = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(obj, dict) or "x_train" not in obj or obj.get("kind") not in GENERATORS:
        raise ValueError(f"{path}: not a manifold dataset written by repgeom.lsh")
    return obj
