"""Figures drawn only from tidy metric tables (seaborn, matplotlib Agg).

Plot settings come from the config's ``figures`` section, handed to every figure
rule as ``params.plot``; ``repgeom.smk.rule_run`` applies them through
:func:`configure`, so changing one reruns the figure rules and nothing else."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # figures are files: no display on a cluster node or in CI
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from repgeom.io import atomic_path  # noqa: E402

PLOT_DEFAULTS = {"dpi": 120, "style": "whitegrid", "context": "paper", "font_scale": 1.0}
_plot = dict(PLOT_DEFAULTS)


def configure(plot: dict | None = None) -> None:
    """Apply plot settings (dpi, seaborn style, context, font_scale) to what follows."""
    unknown = sorted(set(plot or {}) - set(PLOT_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown plot setting(s) {unknown}; known: {sorted(PLOT_DEFAULTS)}")
    _plot.update(plot or {})
    sns.set_theme(style=_plot["style"], context=_plot["context"], font_scale=_plot["font_scale"])


def save_figure(fig, path: str | os.PathLike, *, tight: bool = True) -> None:
    """Write ``fig`` as a PNG atomically (never a half-written figure) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_plot["dpi"], bbox_inches="tight" if tight else None)
    plt.close(fig)


configure()
