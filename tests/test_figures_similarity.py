"""The table behind the similarity stage's denoising figure (repgeom.figures.similarity)."""

from __future__ import annotations

import math

import pandas as pd

from repgeom.figures.similarity import denoising_bins


def test_denoising_bins_scale_the_reference_by_each_models_noise():
    rows = []
    for seed in (0, 1):
        for b, density in enumerate((4.0, 16.0)):
            for metric, value in (("error_rms", 1.0 + b), ("inv_sqrt_density", density**-0.5)):
                rows.append(
                    dict(noise="building", sigma=2.0, seed=seed, bin=b, density=density)
                    | dict(metric=metric, value=value)
                )
    bins = pd.DataFrame(rows)
    # Seed 1 has no noise_rms row: its reference is undefined, not borrowed from seed 0.
    metrics = pd.DataFrame(
        [dict(noise="building", sigma=2.0, seed=0, metric="noise_rms", value=3.0)]
    )
    wide = denoising_bins(bins, metrics).set_index(["seed", "bin"])
    assert len(wide) == 4
    assert wide.loc[(0, 0), "sigma_over_sqrt_n"] == 3.0 / 2
    assert wide.loc[(0, 1), "sigma_over_sqrt_n"] == 3.0 / 4
    assert wide.loc[(0, 1), "density"] == 16.0 and wide.loc[(0, 1), "error_rms"] == 2.0
    assert math.isnan(wide.loc[(1, 0), "sigma_over_sqrt_n"])
    assert set(wide["model"]) == {"σ=2 building"}
