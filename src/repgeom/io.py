"""Atomic file writes: a reader (or a restarted pipeline) never sees a file
that looks complete but is not, because every output is written to a
temporary file in the same directory and renamed into place."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def _tmp_prefix(final: Path) -> str:
    return f".{final.name}."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (``.<name>.<random>.tmp``); rename it
    onto ``path`` only if the block finishes without an exception, otherwise delete
    it. A killed process leaves it behind: see remove_stale_temporaries."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(final), suffix=TMP_SUFFIX, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates the file 0600; a result gets the mode any new file would get
        # (0666 less the umask), so others on a shared machine can read it.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that atomic_path left beside ``path`` when the process
    writing it was killed (no cleanup runs on SIGKILL or power loss); return them.
    Call it only where nothing else can be writing ``path`` now, e.g. when the job
    that owns ``path`` starts. The random part has no dot, so the temporaries of a
    longer name (``path.bak``) are not matched."""
    final = Path(path)
    name = re.compile(re.escape(_tmp_prefix(final)) + r"[^.]+" + re.escape(TMP_SUFFIX))
    if not final.parent.is_dir():
        return []
    stale = sorted(p for p in final.parent.iterdir() if name.fullmatch(p.name))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, table) -> None:
    """A pandas table as CSV, atomically (no index column)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """torch.save, atomically and byte-reproducibly: given a path, torch names the
    archive inside after the (random) temporary file, so identical saves differed
    in bytes; through a file object the archive is always named "archive"."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
