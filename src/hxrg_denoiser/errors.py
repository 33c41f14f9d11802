"""Exceptions raised for bad user input.

Every message names the file or argument at fault and the problem, on one
line, so that the command-line tool can print it as is.
"""

from __future__ import annotations

__all__ = ["HxrgError", "GeometryError", "RampInputError", "OutputError"]


class HxrgError(Exception):
    """Base class of the errors the command-line tool reports without a traceback."""


class GeometryError(HxrgError, ValueError):
    """A readout geometry is inconsistent or does not fit the data."""


class RampInputError(HxrgError, ValueError):
    """A ramp file or folder cannot be used (missing, truncated, wrong shape, non-finite...)."""


class OutputError(HxrgError, OSError):
    """An output cannot be written (exists without overwrite, bad folder)."""
