"""Reader for the CIFAR-10 "python version": pickled batch dicts, as a folder
(``cifar-10-batches-py/``) or inside the official ``cifar-10-python.tar.gz``."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .errors import REPLACE_ADVICE, DataError, not_a_file
from .sources import CIFAR10_FOLDER, CIFAR10_META, CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCHES

BATCH_NAMES = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
PIXELS = 3 * 32 * 32


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR batch pickle may reference: numpy array reconstruction
    (old and new module paths) and the bytes helper Python 3 uses at protocol < 3.

    numpy's own pickles name the functions; they are taken from what numpy's public
    ``__reduce__`` hands to pickle, never imported from ``numpy.core`` / ``numpy._core``
    (private, renamed in numpy 2), so the reader works on numpy 1 and 2 alike."""
    import codecs

    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.uint8(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5 pickles raw buffers
    table: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for pkg in ("numpy.core", "numpy._core"):
        table[(f"{pkg}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{pkg}.multiarray", "scalar")] = scalar
        table[(f"{pkg}.numeric", "_frombuffer")] = frombuffer
    return table


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays and plain containers.

    The official CIFAR-10 format *is* a Python pickle (written by Python 2's cPickle), so
    there is no pickle-free way to read it; refusing every global except numpy's array
    reconstruction keeps a malicious file from running code."""

    def find_class(self, module: str, name: str):
        try:
            return _allowed_globals()[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def unpickle(data: bytes, label: str) -> dict:
    # encoding="bytes" is what the official format requires: the batches were pickled by
    # Python 2, whose str keys/values come back as bytes (b"data", b"labels").
    try:
        obj = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # truncated or corrupt pickles fail in many ways
        raise DataError(
            f"{label}: corrupt or truncated CIFAR-10 batch ({type(exc).__name__}: {exc}); "
            f"{REPLACE_ADVICE}"
        ) from exc
    if not isinstance(obj, dict):
        raise DataError(f"{label}: not a CIFAR-10 batch (pickle holds {type(obj).__name__})")
    return obj


def parse_batch(data: bytes, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 3, 32, 32] uint8 (channels R, G, B) and labels [N] uint8 of one batch."""
    d = unpickle(data, label)
    images, labels = d.get(b"data"), d.get(b"labels")
    if images is None or labels is None:
        raise DataError(f"{label}: CIFAR-10 batch lacks b'data' or b'labels' (keys {list(d)})")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != PIXELS:
        raise DataError(
            f"{label}: b'data' is {images.dtype} {images.shape}, expected uint8 [N, {PIXELS}]"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{label}: {len(images)} images but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{label}: labels outside 0..9")
    # Each row is the 1024 red, then 1024 green, then 1024 blue values, row-major 32x32.
    return images.reshape(-1, 3, 32, 32), labels.astype(np.uint8)


def parse_meta(data: bytes, label: str) -> list[str]:
    names = unpickle(data, label).get(b"label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{label}: batches.meta lacks 10 b'label_names'")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_folder_members(folder: str | os.PathLike) -> dict[str, bytes]:
    """Bytes of every batch file (and batches.meta if present) in an extracted folder."""
    folder = Path(folder)
    members = {}
    for name in (*BATCH_NAMES, CIFAR10_META):
        path = folder / name
        if not path.is_file():
            if name == CIFAR10_META and not path.exists():
                continue
            what = not_a_file(path) if path.exists() else "missing"
            raise DataError(
                f"{path}: {what} in the CIFAR-10 folder {folder} (expected "
                f"{', '.join(BATCH_NAMES)} and {CIFAR10_META})"
            )
        members[name] = path.read_bytes()
    return members


def read_tar_members(path: str | os.PathLike) -> dict[str, bytes]:
    """Bytes of the batch files inside cifar-10-python.tar.gz, read in memory (the tarball
    is never extracted to disk, so member paths cannot escape anywhere)."""
    wanted = {f"{CIFAR10_FOLDER}/{n}": n for n in (*BATCH_NAMES, CIFAR10_META)}
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for info in tar:
                key = wanted.get(info.name.lstrip("./"))
                if key is None or not info.isfile():
                    continue
                fh = tar.extractfile(info)
                members[key] = fh.read() if fh is not None else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt or truncated CIFAR-10 archive ({type(exc).__name__}: {exc}); "
            f"{REPLACE_ADVICE}"
        ) from exc
    missing = [n for n in BATCH_NAMES if n not in members]
    if missing:
        raise DataError(
            f"{path}: CIFAR-10 archive lacks {CIFAR10_FOLDER}/{', '.join(missing)}; "
            "the archive is incomplete or not cifar-10-python.tar.gz"
        )
    return members


def member_md5s(members: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.md5(data).hexdigest() for name, data in members.items()}


def assemble(members: dict[str, bytes], source: str):
    """(train_images, train_labels, test_images, test_labels, classes or None)."""
    parts = [parse_batch(members[n], f"{source}/{n}") for n in CIFAR10_TRAIN_BATCHES]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = parse_batch(members[CIFAR10_TEST_BATCH], f"{source}/{CIFAR10_TEST_BATCH}")
    classes = None
    if CIFAR10_META in members:
        classes = parse_meta(members[CIFAR10_META], f"{source}/{CIFAR10_META}")
    return train_x, train_y, test_x, test_y, classes
