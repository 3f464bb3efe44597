"""Downloading official archives: several mirrors, retries with backoff, md5 verified
before the file is renamed into place, so a partial or wrong download never looks
complete. Uses urllib only.

``urlopen`` and ``sleep`` are module attributes so tests can replace them."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..io import atomic_path
from .errors import DataError
from .sources import FileSpec

urlopen = urllib.request.urlopen
sleep = time.sleep

CHUNK = 1 << 20
USER_AGENT = "repgeom-data/0.1 (+urllib)"
BACKOFF_S = 1.0


def md5_of(path: str | os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _stream_to(url: str, dest: Path, timeout_s: float) -> tuple[int, str]:
    """Write the body of ``url`` to ``dest``; return (bytes, md5). Raises on short reads."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    h = hashlib.md5()
    n = 0
    with urlopen(req, timeout=timeout_s) as resp, open(dest, "wb") as out:
        length = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
        while True:
            block = resp.read(CHUNK)
            if not block:
                break
            out.write(block)
            h.update(block)
            n += len(block)
    if length is not None and length.isdigit() and int(length) != n:
        raise OSError(f"connection closed after {n} of {length} bytes")
    return n, h.hexdigest()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in (408, 425, 429) or exc.code >= 500
    return True


def download(
    spec: FileSpec,
    dest: str | os.PathLike,
    *,
    retries: int = 3,
    timeout_s: float = 60.0,
    logger: logging.Logger | None = None,
    attempts: list[str] | None = None,
) -> str:
    """Fetch ``spec`` from its URLs into ``dest`` and return the URL that worked.

    Each URL is tried up to ``retries`` times (exponential backoff; client errors such as
    404 are not retried). A try whose md5 differs from ``spec.md5`` fails and its temp file
    is deleted. Every failed try is appended to ``attempts``; if all fail a DataError lists
    them."""
    log = logger or logging.getLogger("repgeom.data")
    attempts = [] if attempts is None else attempts
    dest = Path(dest)
    for url in spec.urls:
        for attempt in range(1, max(1, retries) + 1):
            log.info("downloading %s (try %d/%d)", url, attempt, retries)
            try:
                with atomic_path(dest) as tmp:
                    n, md5 = _stream_to(url, tmp, timeout_s)
                    if md5 != spec.md5:
                        raise ValueError(
                            f"md5 mismatch: got {md5} ({n} bytes), expected {spec.md5}"
                        )
            except Exception as exc:
                msg = f"{url} (try {attempt}): {type(exc).__name__}: {exc}"
                attempts.append(msg)
                log.warning("download failed: %s", msg)
                if not _retryable(exc):
                    break
                if attempt < retries:
                    sleep(BACKOFF_S * 2 ** (attempt - 1))
                continue
            log.info("downloaded %s -> %s (md5 ok)", url, dest)
            return url
    raise DataError(
        f"could not download {spec.name}; tried:\n  " + "\n  ".join(attempts or ["(no URLs)"])
    )
