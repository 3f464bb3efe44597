"""Figures drawn only from tidy metric tables (seaborn, matplotlib Agg)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # figures are files: no display on a cluster node or in CI
import matplotlib.pyplot as plt  # noqa: E402

from repgeom.io import atomic_path  # noqa: E402


def save_figure(fig, path: str | os.PathLike, *, tight: bool = True) -> None:
    """Write ``fig`` as a PNG atomically (never a half-written figure) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight" if tight else None)
    plt.close(fig)
