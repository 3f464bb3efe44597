"""The eps grids of the adversarial stage (numpy only: the workflow imports it to plan).

- the paper's FGSM grid, numpy.logspace(start, stop, num) (claim I3);
- the PGD/AutoAttack grid around the 50 % crossings (claim I4, issue 14): ``num``
  log-spaced eps from the smallest 50 % crossing measured in an earlier run divided by
  ``span`` to the largest times ``span``, fixed in config before the run."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def eps_grid(start: float, stop: float, num: int) -> list[float]:
    """The paper's FGSM grid: numpy.logspace(start, stop, num)."""
    return [float(e) for e in np.logspace(start, stop, num)]


def crossing_grid(crossings: Sequence[float], span: float, num: int) -> list[float]:
    """``num`` log-spaced eps from min(crossings) / span to max(crossings) * span."""
    if not crossings or min(crossings) <= 0 or span < 1 or num < 2:
        raise ValueError("crossing_grid needs crossings > 0, span >= 1 and num >= 2")
    lo, hi = min(crossings), max(crossings)
    return eps_grid(math.log10(lo / span), math.log10(hi * span), num)
