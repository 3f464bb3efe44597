"""The isometry stage's training budget and seeds from its config section (no torch:
the workflow reads them while it plans the DAG).

Budget rule (issue 14): ``per_dataset.<d>.steps: authors`` trains every model for the
authors' optimiser steps, ``epochs x authors_train_images / batch_size`` (MNIST
5 x 60,000 / 100 = 3,000; Fashion-MNIST 10 x 60,000 / 100 = 6,000), whatever the size of
our training set; a number sets the steps directly."""

from __future__ import annotations

import math

AUTHORS = "authors"


def authors_steps(epochs: int, train_images: int, batch_size: int) -> int:
    """The optimiser steps of ``epochs`` passes over ``train_images`` at ``batch_size``
    (a last partial batch counts as a step)."""
    return epochs * math.ceil(train_images / batch_size)


def isometry_steps(iso: dict, dataset: str) -> int:
    """Steps per model of ``dataset`` from the config section ``iso`` (isometry)."""
    settings = iso["per_dataset"][dataset]
    if settings["steps"] == AUTHORS:
        return authors_steps(settings["epochs"], iso["authors_train_images"], iso["batch_size"])
    return int(settings["steps"])


def isometry_seeds(iso: dict, dataset: str, seeds: list[int]) -> list[int]:
    """The seeds of ``dataset``'s models: its own ``seeds`` list, or ``seeds`` (the
    top-level ones) when that is null."""
    return list(iso["per_dataset"][dataset].get("seeds") or seeds)
