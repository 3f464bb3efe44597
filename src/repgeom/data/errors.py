"""The one exception type of the data layer."""

from __future__ import annotations

from pathlib import Path


class DataError(RuntimeError):
    """Any failure to obtain, validate, convert or load a dataset.

    The message always names the file or URL involved and says how to fix it."""


# What to do about a corrupt local file: a mirror file is never fetched again by the
# pipeline, so deleting it only turns the error into a missing file.
REPLACE_ADVICE = "replace it with an intact copy of the file (e.g. from the official source)"


def not_a_file(path: Path) -> str:
    """What an existing entry that should be a data file is instead."""
    return "is a directory, not a file" if path.is_dir() else "is not a regular file"
