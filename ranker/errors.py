"""Errors a user can act on. Stages print them as one line and exit non-zero."""

from __future__ import annotations

# The most characters of one bad value a message quotes: input can be hostile or huge (a
# 400 MB "header"), and a message is one line a person reads.
QUOTE_CHARS = 40


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """`repr` of a bad value for a message, cut to its first `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


class RankerError(Exception):
    """A failure caused by input, params or environment, not by a bug."""


class ParamError(RankerError):
    """A param is unknown, of the wrong type, or out of range."""


class DataError(RankerError):
    """Input data fails validation; the message names file, column, values and rows."""


class DownloadError(RankerError):
    """The source could not be fetched or failed its checksum."""


class ModelError(RankerError):
    """The model cannot be resolved or loaded."""


class ExportError(RankerError):
    """The exported model fails its contract or parity gate."""


class TrainingError(RankerError):
    """Training failed in a way the user can act on (a worker died, a job could not form)."""
