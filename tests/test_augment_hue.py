"""Hue jitter of the batched augmentations: torchvision's adjust_hue per sample, drawn
only when configured (the draws of a config without hue are those of before)."""

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from repgeom.eigenmaps.augment import AugmentConfig, adjust_hue, augment, random_parameters


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_adjust_hue_matches_torchvision_per_sample():
    x = torch.rand(48, 3, 12, 12, generator=gen(0))
    x[0] = 0.5  # grey: no hue
    x[1, :, :3] = 1.0  # white rows
    x[2] = (x[2] * 255).round() / 255  # 8-bit levels: ties between channels
    x[3, 1] = x[3, 0]  # max shared by R and G
    factor = torch.rand(48, generator=gen(1)) - 0.5
    factor[4], factor[5], factor[6] = 0.5, -0.5, 0.0
    ref = torch.stack([TF.adjust_hue(x[i], float(factor[i])) for i in range(len(x))])
    assert torch.allclose(adjust_hue(x, factor), ref, atol=1e-5)


def test_hue_zero_draws_nothing_more():
    """With hue = 0 the generator is left where the list without hue left it, so the
    default config's views (and every number of the default run) are unchanged."""
    cfg = AugmentConfig()
    g = gen(3)
    p = random_parameters(16, cfg, g)
    assert "hue" not in p
    after = g.get_state()
    g = gen(3)
    for _ in range(12):  # the 12 draws of the list without hue
        torch.rand(16, generator=g)
    assert torch.equal(after, g.get_state())


def test_hue_jitter_applies_to_jittered_rgb_views_only():
    x = torch.rand(64, 3, 16, 16, generator=gen(4))
    base = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), grayscale_p=0.0, blur_p=0.0)
    plain = {**base, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0}
    off = augment(x, AugmentConfig(**plain, jitter_p=0.5), gen(5))
    on = augment(x, AugmentConfig(**plain, jitter_p=0.5, hue=0.3), gen(5))
    p = random_parameters(64, AugmentConfig(**plain, jitter_p=0.5, hue=0.3), gen(5))
    changed = (on - off).abs().amax(dim=(1, 2, 3)) > 1e-3
    assert torch.equal(changed, p["jitter"] & (p["hue"] != 0))
    grey = torch.rand(8, 1, 16, 16, generator=gen(6))
    cfg = AugmentConfig(**plain, jitter_p=1.0, hue=0.5)
    assert torch.allclose(augment(grey, cfg, gen(7)), augment(grey, AugmentConfig(**plain), gen(7)))


def test_hue_must_be_at_most_half_a_turn():
    with pytest.raises(ValueError, match="hue"):
        AugmentConfig(hue=0.6)
    with pytest.raises(ValueError, match="hue"):
        AugmentConfig.from_dict({"hue": -0.1})
