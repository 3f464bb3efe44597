"""The one statistics module: degenerate input, bounded CIs, seeds needed against a
direct simulation."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from repgeom.stats import (
    accuracy,
    mean_ci,
    pearson,
    seeds_needed,
    spearman,
    subset_indices,
)


def test_mean_ci_matches_the_t_interval_by_hand():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    half = sps.t.ppf(0.975, 3) * x.std(ddof=1) / 2
    assert mean_ci(x) == pytest.approx((3.5, 3.5 - half, 3.5 + half))


def test_bounded_ci_is_clipped_to_its_bounds():
    mean, lo, hi = mean_ci([-0.99, -1.0, -0.9], bounds=(-1.0, 1.0))
    assert lo == -1.0 and hi < 0 and mean == pytest.approx(-0.9633, abs=1e-4)
    _, lo, hi = mean_ci([0.98, 1.0, 0.9], bounds=(0.0, 1.0))
    assert hi == 1.0
    _, lo, _ = mean_ci([0.01, 0.0, 0.2], bounds=(0.0, math.inf))
    assert lo == 0.0


@pytest.mark.parametrize("fn", [spearman, pearson])
@pytest.mark.parametrize(
    ("x", "y"),
    [([1, 2, 3], [5, 5, 5]), ([2, 2, 2], [1, 2, 3]), ([1, 2], [2, 1]), ([], [])],
)
def test_correlations_are_nan_on_degenerate_input(fn, x, y):
    assert math.isnan(fn(x, y))


def test_correlations_match_scipy_and_reject_unequal_lengths():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    assert pearson(x, y) == pytest.approx(sps.pearsonr(x, y).statistic)
    with pytest.raises(ValueError, match="equal lengths"):
        spearman([1, 2, 3], [1, 2])


def test_accuracy_and_subsets():
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    assert math.isnan(accuracy([], []))
    idx = subset_indices(100, 10, seed=3)
    assert len(idx) == 10 and len(set(idx)) == 10 and list(idx) == sorted(idx)
    assert list(idx) == list(subset_indices(100, 10, seed=3))
    assert list(subset_indices(5, 0, seed=3)) == [0, 1, 2, 3, 4]


def brute_force_seeds_needed(values, threshold):
    x = np.asarray(values, float)
    effect, sd = abs(x.mean() - threshold), x.std(ddof=1)
    for n in range(2, 10_000):
        if sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n) < effect:
            return n
    return math.inf


@pytest.mark.parametrize(
    "values", [[0.1, -0.3, 0.5], [1.2, 0.1, 0.6, -0.4], [0.05, 0.02, -0.01], [3, 1, 2]]
)
def test_seeds_needed_is_the_first_n_whose_half_width_beats_the_effect(values):
    assert seeds_needed(values, 0.0) == brute_force_seeds_needed(values, 0.0)


def test_seeds_needed_degenerate_cases():
    assert math.isnan(seeds_needed([0.3], 0.0))
    assert seeds_needed([0.1, -0.1], 0.0) == math.inf  # mean on the threshold
    assert seeds_needed([0.2, 0.2], 0.0) == 2.0  # no spread


def test_seeds_needed_decides_about_half_the_time_in_a_direct_simulation():
    # With the true effect and spread equal to the observed ones, n* seeds give a CI
    # that excludes the threshold in roughly half of the repeats (the half-width is
    # set to the effect at n*), and clearly more often with twice as many seeds.
    effect, sd = 0.5, 1.0
    n_star = int(seeds_needed([effect - sd, effect, effect + sd], 0.0))
    assert n_star == brute_force_seeds_needed([effect - sd, effect, effect + sd], 0.0)
    rng = np.random.default_rng(0)

    def decided_share(n):
        hits = 0
        for _ in range(2000):
            _, lo, _ = mean_ci(rng.normal(effect, sd, size=n))
            hits += lo > 0
        return hits / 2000

    at_star, at_double = decided_share(n_star), decided_share(2 * n_star)
    assert 0.35 < at_star < 0.65
    assert at_double > at_star + 0.2
