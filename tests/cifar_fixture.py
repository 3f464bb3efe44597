"""Generated CIFAR-10 in the official "python version" layout: the batches pickled as
Python 2's cPickle wrote them (protocol 2, str keys and values as bytes, numpy.core
module paths), in ``cifar-10-batches-py/`` or packed as ``cifar-10-python.tar.gz``,
so repgeom's reader and conversion run exactly as on the real download.

As a script it writes a data mirror for a manual run of the paper-shaped preset:
    python tests/cifar_fixture.py /tmp/mirror /work/shared/data
(cifar-10/ generated, mnist/ and fashion-mnist/ linked from the second folder).
"""

from __future__ import annotations

import struct
import sys
import tarfile
from pathlib import Path

import numpy as np

from repgeom.data import DATASETS

CLASSES = DATASETS["cifar10"].classes
PIXELS = 3 * 32 * 32


def _py2_str(b: bytes) -> bytes:
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<i", len(b)) + b


def _py2_int(i: int) -> bytes:
    if 0 <= i < 256:
        return b"K" + bytes([i])
    if 0 <= i < 65536:
        return b"M" + struct.pack("<H", i)
    return b"J" + struct.pack("<i", i)


def _py2_obj(obj) -> bytes:
    """Protocol-2 pickle opcodes as Python 2's cPickle wrote the official CIFAR batches
    (str values as BINSTRING, numpy.core module paths), without memo opcodes."""
    if isinstance(obj, bytes):
        return _py2_str(obj)
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return _py2_int(obj)
    if obj is None:
        return b"N"
    if isinstance(obj, list):
        return b"](" + b"".join(_py2_obj(x) for x in obj) + b"e"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2_obj(x) for x in obj) + b"t"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2_obj(k) + _py2_obj(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.ndarray):
        assert obj.dtype == np.uint8
        dtype = (
            b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R"
            b"(K\x03" + _py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        )
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
            + b"K\x00\x85"
            + _py2_str(b"b")
            + b"\x87R(K\x01"
            + _py2_obj(tuple(obj.shape))
            + dtype
            + b"\x89"
            + _py2_str(obj.tobytes())
            + b"tb"
        )
    raise TypeError(type(obj))


def py2_pickle(obj) -> bytes:
    return b"\x80\x02" + _py2_obj(obj) + b"."


def batch_dict(rows: np.ndarray, labels: list[int], name: str) -> dict:
    """One batch with the official keys: uint8 rows of 3072 (R, G, B planes), labels,
    file names and the batch label."""
    assert rows.dtype == np.uint8 and rows.shape == (len(labels), PIXELS)
    return {
        b"batch_label": name.encode(),
        b"labels": list(labels),
        b"data": rows,
        b"filenames": [f"{name.replace(' ', '_')}_{i}.png".encode() for i in range(len(labels))],
    }


def meta_dict(per_batch: int) -> dict:
    return {
        b"label_names": [c.encode() for c in CLASSES],
        b"num_cases_per_batch": per_batch,
        b"num_vis": PIXELS,
    }


def class_images(labels: list[int], rng: np.random.Generator) -> np.ndarray:
    """Rows whose class is visible: a per-class colour and stripe orientation under
    pixel noise, so a network can learn something from a few images."""
    n = len(labels)
    yy, xx = np.mgrid[0:32, 0:32]
    out = np.empty((n, 3, 32, 32), dtype=np.float64)
    for i, y in enumerate(labels):
        colour = 60 + 140 * np.array([(y >> b) & 1 for b in range(3)], dtype=float)
        angle = np.pi * y / 10
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.6)
        out[i] = colour[:, None, None] + 40 * stripes + rng.normal(0, 20, (3, 32, 32))
    return np.clip(out, 0, 255).astype(np.uint8).reshape(n, PIXELS)


def write_cifar_batches(folder: Path, per_class: int = 10, seed: int = 0) -> Path:
    """``cifar-10-batches-py/``: data_batch_1..5 and test_batch with ``per_class``
    images of each class each (shuffled), and batches.meta."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = rng.permutation(np.repeat(np.arange(10), per_class)).tolist()
        title = (
            "testing batch 1 of 1" if name == "test_batch" else f"training batch {name[-1]} of 5"
        )
        batch = batch_dict(class_images(labels, rng), labels, title)
        (folder / name).write_bytes(py2_pickle(batch))
    (folder / "batches.meta").write_bytes(py2_pickle(meta_dict(10 * per_class)))
    return folder


def write_cifar_archive(path: Path, per_class: int = 10, seed: int = 0) -> Path:
    """``cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/`` as the official one."""
    staging = path.parent / ".staging"
    src = write_cifar_batches(staging / "cifar-10-batches-py", per_class, seed)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    for f in src.iterdir():
        f.unlink()
    src.rmdir()
    staging.rmdir()
    return path


def write_mirror(root: Path, shared: Path, per_class: int = 10) -> Path:
    """A data mirror: generated ``cifar-10/cifar-10-python.tar.gz`` plus links to the
    MNIST and Fashion-MNIST folders of ``shared`` (the real mirror)."""
    (root / "cifar-10").mkdir(parents=True, exist_ok=True)
    write_cifar_archive(root / "cifar-10" / "cifar-10-python.tar.gz", per_class)
    for name in ("mnist", "fashion-mnist"):
        link = root / name
        if not link.exists():
            link.symlink_to((shared / name).resolve(), target_is_directory=True)
    return root


if __name__ == "__main__":
    write_mirror(Path(sys.argv[1]), Path(sys.argv[2]))
