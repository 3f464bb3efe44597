"""The one exception type of the data layer."""

from __future__ import annotations


class DataError(RuntimeError):
    """Any failure to obtain, validate, convert or load a dataset.

    The message always names the file or URL involved and says how to fix it."""
