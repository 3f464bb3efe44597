"""Stage registration (Charpiat et al. 2019): generated multimodal scenes (aerial image,
map raster) with exact displacements, noisy labels, a small CNN regressor trained on them,
and its error against the truth (auto-denoising, claim R1).

Public interface (also used by the similarity stage): ``make_samples``, ``make_dataset``,
``noisy_labels``, ``build_model``, ``load_model``, ``predict``."""

from repgeom.registration.models import build_model, load_checkpoint, load_model, predict
from repgeom.registration.scenes import (
    CHANNELS,
    NOISES,
    make_dataset,
    make_samples,
    make_split,
    noisy_labels,
)

__all__ = [
    "CHANNELS",
    "NOISES",
    "build_model",
    "load_checkpoint",
    "load_model",
    "make_dataset",
    "make_samples",
    "make_split",
    "noisy_labels",
    "predict",
]
