"""Named random streams: the seed of every random draw that is neither the run seed's own
(weights, batch order, draws repeated from the seed for every variant) nor inside a data
generator comes from here, derived from the run seed and a declared name, so streams
never collide and can be listed (docs/design.md: Random streams and seeding).

``stream(seed, name)`` differs across run seeds; ``fixed_stream(name)`` is the same for
every seed (subsets every model of a sweep shares, so seeds are paired). A name is
declared once, in ``PER_SEED`` or in ``FIXED``, with its purpose; any other name is
refused. Call sites spell the name as a literal (``streams.stream(seed, "a/b")``) so that
tests/test_streams.py can check every name used is declared and every declared name used.
"""

from __future__ import annotations

import hashlib

import numpy as np

# name -> purpose: streams that differ across run seeds.
PER_SEED = {
    "eigenmaps/eval": "evaluation draws of a pretrained model (random subsets, augmented batches)",
    "eigenmaps/heldout": "the held-out view pairs of a pretraining's curve (test images)",
    "similarity/enforce/val": "S4: the validation subset of the MNIST test split",
    "similarity/registration/subsample": "S2/S3: the training samples of a model analysed",
    "similarity/registration/density_check": "S2/S3: the samples of the density_exact check",
    "similarity/registration/queries": "S2/S3: the test queries of the retrieval figure",
}
# name -> purpose: streams that are the same for every run seed.
FIXED = {
    "isometry/train_subset": "training images of every isometry model (sweep, MNIST hierarchy)",
    "isometry/eval_subset": "test points the isometry geometry is measured and drawn on",
    "isometry/scatter_pairs": "within-class distance pairs of the isometry scatter figure",
}


def stream(seed: int, name: str) -> int:
    """The seed of the per-seed stream ``name`` of run seed ``seed``: 63 bits of
    sha256("name#seed"), usable by torch.Generator.manual_seed and numpy's default_rng."""
    _declared(name, PER_SEED, "stream", "fixed_stream(name)", FIXED)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"stream {name!r}: the run seed must be an integer, got {seed!r}")
    return _derive(f"{name}#{int(seed)}")


def fixed_stream(name: str) -> int:
    """The seed of the fixed stream ``name``, the same for every run seed."""
    _declared(name, FIXED, "fixed_stream", "stream(seed, name)", PER_SEED)
    return _derive(f"{name}#fixed")


def _declared(name: str, kind: dict, fn: str, other_fn: str, other: dict) -> None:
    if name in kind:
        return
    if name in other:
        raise ValueError(f"{fn}: {name!r} is declared in the other registry; use {other_fn}")
    raise ValueError(
        f"{fn}: unknown stream {name!r}; declare it in repgeom/streams.py "
        f"(known: {', '.join(sorted(kind))})"
    )


def _derive(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1
