"""Errors a user can act on. Stages print them as one line and exit non-zero."""

from __future__ import annotations


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
