"""The project's statistics, used by every stage: confidence intervals over seeds,
rank and linear correlation, accuracy, seeded subsets, and how many seeds an
undecided comparison would need.

Policy for degenerate input (one for every stage): a statistic that is undefined on
its input (a correlation with fewer than 3 points or a constant side, a CI from one
value) is NaN, never a stand-in number. A claim whose per-seed statistic is NaN is
``invalid`` with that reason (repgeom.claims), so a degenerate statistic never decides
a verdict, in any stage.

Intervals of bounded quantities (accuracies, correlations, ratios of counts) are
clipped to the bounds: the t-interval's mass outside them is impossible values."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Bounds = tuple[float, float] | None

# Bounds of the statistics the claims use, by kind.
CORRELATION_BOUNDS = (-1.0, 1.0)
FRACTION_BOUNDS = (0.0, 1.0)


def _t_quantile(confidence: float, df: int) -> float:
    from scipy import stats  # here, not at import: most jobs only write tables (~1 s)

    return float(stats.t.ppf(0.5 + confidence / 2, df=df))


def mean_ci(
    values: Sequence[float], confidence: float = 0.95, bounds: Bounds = None
) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval over independent runs
    (seeds): mean +- t_{n-1} * sd / sqrt(n), clipped to ``bounds`` when given. With one
    value the spread is unknown, so the CI is NaN."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = _t_quantile(confidence, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return mean, lo, hi


def _defined(x: np.ndarray, y: np.ndarray) -> bool:
    if x.shape != y.shape:
        raise ValueError(f"correlation needs equal lengths, got {x.size} and {y.size}")
    return x.size >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation; NaN when undefined (< 3 points or a constant side)."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if not _defined(x, y):
        return math.nan
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation; NaN when undefined (< 3 points or a constant side)."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if not _defined(x, y):
        return math.nan
    from scipy import stats

    return float(stats.pearsonr(x, y).statistic)


def accuracy(predicted, labels) -> float:
    """Fraction of equal entries (class predictions against labels); NaN when empty."""
    p, t = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    if p.shape != t.shape:
        raise ValueError(f"accuracy needs equal lengths, got {p.size} and {t.size}")
    return float((p == t).mean()) if p.size else math.nan


def subset_indices(n: int, k: int, seed: int) -> np.ndarray:
    """``k`` of ``range(n)`` without replacement (all of them when k <= 0 or k >= n),
    sorted, from numpy's generator seeded with ``seed``: the same on every machine."""
    if n < 0:
        raise ValueError(f"subset_indices: n must be >= 0, got {n}")
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def seeds_needed(
    values: Sequence[float], threshold: float, confidence: float = 0.95, max_seeds: int = 10_000
) -> float:
    """Seeds a comparison would need for its CI to exclude ``threshold`` if the observed
    effect (mean - threshold) and spread (sd) held: the smallest n >= 2 with
    t_{n-1} * sd / sqrt(n) < |mean - threshold|. inf when the mean sits on the threshold
    or more than ``max_seeds`` would be needed; NaN with fewer than 2 values."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size < 2:
        return math.nan
    effect, sd = abs(float(x.mean()) - threshold), float(x.std(ddof=1))
    if sd == 0:
        return 2.0 if effect > 0 else math.inf
    if effect == 0:
        return math.inf

    def decided(n: int) -> bool:  # the half-width falls with n: bisect for the first n
        return _t_quantile(confidence, n - 1) * sd / math.sqrt(n) < effect

    if not decided(max_seeds):
        return math.inf
    lo, hi = 2, max_seeds
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decided(mid) else (mid + 1, hi)
    return float(lo)
