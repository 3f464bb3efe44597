"""Strict reader for the IDX format used by MNIST and Fashion-MNIST.

Every malformed input (wrong magic number, truncated or over-long file, broken gzip
stream, inconsistent counts, labels outside 0..9) is a DataError naming the file."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import REPLACE_ADVICE, DataError

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
GZIP_MAGIC = b"\x1f\x8b"


def decompress(raw: bytes, label: str) -> bytes:
    """Return the content of a gzip stream (or ``raw`` itself if it is not gzip)."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{label}: corrupt or truncated gzip archive ({exc}); {REPLACE_ADVICE}"
        ) from exc


def read_file_bytes(path: str | os.PathLike) -> tuple[bytes, bytes]:
    """Return (bytes as stored, decompressed content) of an IDX file, .gz or raw."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    return raw, decompress(raw, str(path))


def parse_idx(content: bytes, expected_magic: int, label: str) -> np.ndarray:
    """Parse decompressed IDX bytes whose magic number must be ``expected_magic``."""
    if len(content) < 4:
        raise DataError(f"{label}: truncated IDX file ({len(content)} bytes, no header)")
    (magic,) = struct.unpack(">I", content[:4])
    if magic != expected_magic:
        raise DataError(
            f"{label}: wrong IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            "(not an IDX file of the right kind, or a corrupt file)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{label}: truncated IDX header ({len(content)} bytes)")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    expected = header + math.prod(dims)
    if len(content) < expected:
        raise DataError(
            f"{label}: truncated IDX file: header says {dims} needs {expected} bytes, "
            f"found {len(content)}; {REPLACE_ADVICE}"
        )
    if len(content) > expected:
        raise DataError(
            f"{label}: {len(content) - expected} trailing bytes after the {dims} IDX data "
            f"({expected} bytes expected); the file is corrupt"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def parse_images(content: bytes, label: str, hw: tuple[int, int] = (28, 28)) -> np.ndarray:
    arr = parse_idx(content, IDX_IMAGES_MAGIC, label)
    if tuple(arr.shape[1:]) != tuple(hw):
        raise DataError(f"{label}: images are {arr.shape[1:]}, expected {tuple(hw)}")
    return arr


def parse_labels(content: bytes, label: str, n_classes: int = 10) -> np.ndarray:
    arr = parse_idx(content, IDX_LABELS_MAGIC, label)
    if arr.size and int(arr.max()) >= n_classes:
        raise DataError(f"{label}: label {int(arr.max())} outside 0..{n_classes - 1}")
    return arr


def read_idx_images(path: str | os.PathLike, hw: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Images [N, H, W] uint8 from an IDX3 file (.gz or raw)."""
    return parse_images(read_file_bytes(path)[1], str(path), hw)


def read_idx_labels(path: str | os.PathLike, n_classes: int = 10) -> np.ndarray:
    """Labels [N] uint8 from an IDX1 file (.gz or raw)."""
    return parse_labels(read_file_bytes(path)[1], str(path), n_classes)


def check_pair(images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str):
    if len(images) != len(labels):
        raise DataError(
            f"{images_name} has {len(images)} images but {labels_name} has {len(labels)} "
            "labels; one of the files is from a different split or corrupt"
        )
