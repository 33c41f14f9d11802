"""Exceptions raised for problems with the user's files, options or environment.

Every message names the file, option or resource at fault and the problem, on
one line, so that the command-line tool can print it as is and exit with
status 2. Anything else that goes wrong is a programming error and keeps its
traceback.
"""

from __future__ import annotations

__all__ = [
    "one_line",
    "HxrgError",
    "UsageError",
    "GeometryError",
    "RampInputError",
    "OutputError",
    "ModelFileError",
    "CheckpointError",
    "UnavailableError",
]


class HxrgError(Exception):
    """Base class of the errors the command-line tool reports in one line, without a traceback."""


class UsageError(HxrgError, ValueError):
    """An option or argument has a bad value, or contradicts another."""


class GeometryError(HxrgError, ValueError):
    """A readout geometry is inconsistent or does not fit the data."""


class RampInputError(HxrgError, ValueError):
    """A ramp file or folder cannot be used (missing, truncated, wrong shape, non-finite...)."""


class OutputError(HxrgError, OSError):
    """An output cannot be written (exists without overwrite, bad folder, would touch an input)."""


class ModelFileError(HxrgError, ValueError):
    """A model file is missing, unreadable, invalid or does not fit the data."""


class CheckpointError(HxrgError, ValueError):
    """A training checkpoint is missing, corrupt or belongs to another configuration."""


class UnavailableError(HxrgError, RuntimeError):
    """Something the command needs is not available here (CUDA, a Dask scheduler)."""


def one_line(err: BaseException) -> str:
    """An exception's message on one line (its whitespace runs, newlines included, made single spaces), or
    its type's name when it has none: what a one-line error quotes of an error from a library."""
    return " ".join(str(err).split()) or type(err).__name__
