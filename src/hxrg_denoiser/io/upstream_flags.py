"""Flags a pipeline before this one left in a ramp file: JWST's ``GROUPDQ`` and ``PIXELDQ`` (``_ramp.fits``).

A ramp that went through JWST's ``dq_init`` and ``saturation`` steps carries, per group, the groups not to
use (``SATURATED``, ``DO_NOT_USE``) and, per pixel, the detector's bad pixels. :func:`upstream_flags` reads
them for one integration, in readout order (:mod:`hxrg_denoiser.io.orientation`), as the fit takes them:
each pixel's first read not to use, and the pixel flags carried into the output's DQ.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.io.orientation import axes_of, to_readout
from hxrg_denoiser.stats import first_true

__all__ = ["UpstreamFlags", "FlaggedJumps", "upstream_flags", "with_upstream_flags", "first_unusable",
           "UNUSABLE_GROUP", "JUMP_GROUP"]

log = logging.getLogger(__name__)

UNUSABLE_GROUP = 1 | 2  # GROUPDQ bits of groups not to fit: DO_NOT_USE, SATURATED
JUMP_GROUP = 4  # GROUPDQ bit of a group a jump was found in (JUMP_DET): the difference into it


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, as the arrays of fit options are
class FlaggedJumps:
    """Read differences a pipeline before this one flagged as jumps (JWST ``GROUPDQ`` ``JUMP_DET``), readout
    order: the difference between reads ``differences[i]`` and ``differences[i] + 1`` of pixel
    ``(rows[i], cols[i])``, int32 arrays of one length."""

    differences: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def from_groupdq(cls, groupdq: np.ndarray, fast: int = 1, slow: int = 2) -> FlaggedJumps:
        """The jumps ``groupdq`` marks: one integration's flags, shape ``(n_groups, n_y, n_x)``, in the orientation
        ``fast``/``slow`` (FASTAXIS, SLOWAXIS). A flag on group 0 has no difference into it and is dropped."""
        marked = to_readout((np.asarray(groupdq)[1:] & JUMP_GROUP) != 0, fast, slow)
        differences, rows, cols = np.nonzero(marked)
        return cls(differences.astype(np.int32), rows.astype(np.int32), cols.astype(np.int32))

    def __len__(self) -> int:
        return int(self.differences.size)

    def from_read(self, first: int) -> FlaggedJumps:
        """These jumps with the differences counted from read ``first`` (those before it dropped)."""
        keep = self.differences >= first
        return FlaggedJumps(self.differences[keep] - first, self.rows[keep], self.cols[keep])

    def in_rows(self, start: int, stop: int, n_cols: int, n_differences: int) -> tuple[np.ndarray, np.ndarray]:
        """The jumps of rows ``start:stop`` among the first ``n_differences``: flat pixel indices into those rows
        (``n_cols`` wide) and their differences, as :meth:`~hxrg_denoiser.classical.jumps.JumpPixels.with_flags`
        takes them."""
        keep = (self.rows >= start) & (self.rows < stop) & (self.differences < n_differences)
        pixels = (self.rows[keep].astype(np.int64) - start) * n_cols + self.cols[keep]
        return pixels, self.differences[keep].astype(np.int64)


@dataclass(frozen=True)
class UpstreamFlags:
    """``flagged_from``: each pixel's first read not to use (the read count where none), int32; ``pixel``: the
    PIXELDQ bits, uint32 (None where the file has none). Both ``(n_rows, n_cols)`` in readout order.
    ``jumps``: the differences GROUPDQ flags as jumps (where asked for and the file has GROUPDQ)."""

    flagged_from: np.ndarray | None
    pixel: np.ndarray | None
    jumps: FlaggedJumps | None = None


def first_unusable(groupdq: np.ndarray) -> np.ndarray:
    """Each pixel's first group ``groupdq`` marks not to use (saturated, do-not-use); the group count where none.

    ``groupdq``: one integration's flags, shape ``(n_groups, n_rows, n_cols)``; returns ``(n_rows, n_cols)``, int32.
    """
    return first_true((groupdq & UNUSABLE_GROUP) != 0)


def with_upstream_flags(settings, path: str | os.PathLike, integration: int = 0, jumps: bool = False):
    """``settings`` (a dataclass with ``flagged_from`` and ``pixel_flags``: fit options, denoise settings) with the
    GROUPDQ and PIXELDQ of the ramp file ``path``, where it has them and none were given; with ``jumps``, also
    GROUPDQ's jumps as ``jump_flags`` (fit options)."""
    flags = upstream_flags(path, integration, jumps)
    if jumps and (flags is None or flags.jumps is None):
        log.warning("%s has no GROUPDQ: no jumps taken from it", path)
    if flags is None or settings.flagged_from is not None or settings.pixel_flags is not None:
        return settings
    more = {"jump_flags": flags.jumps} if jumps else {}
    return dataclasses.replace(settings, flagged_from=flags.flagged_from, pixel_flags=flags.pixel, **more)


def upstream_flags(path: str | os.PathLike, integration: int = 0, jumps: bool = False) -> UpstreamFlags | None:
    """The ``GROUPDQ`` and ``PIXELDQ`` of a ramp file (None where it has neither, is a folder of reads, or cannot
    be read: the ramp's reader says why); with ``jumps``, also the jumps GROUPDQ flags.

    Raises
    ------
    RampInputError
        A GROUPDQ or PIXELDQ of another shape than the data's, one line.
    """
    if os.path.isdir(path):
        return None
    try:
        with warnings.catch_warnings(), fits.open(path, memmap=False) as hdul:
            warnings.simplefilter("ignore", AstropyUserWarning)
            names = [hdu.name for hdu in hdul]
            if "GROUPDQ" not in names and "PIXELDQ" not in names:
                return None
            header = hdul[0].header.copy()
            sci = hdul["SCI"] if "SCI" in names else None
            if sci is not None:
                header.extend(sci.header, update=True)
            shape = None if sci is None else sci.shape
            groups = None if "GROUPDQ" not in names else np.asarray(hdul["GROUPDQ"].data)
            pixel = None if "PIXELDQ" not in names else np.asarray(hdul["PIXELDQ"].data)
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return None  # what is wrong with the file is the ramp reader's to say
    fast, slow = axes_of(header, str(path))
    flagged = found = None
    if groups is not None:
        if shape is not None and groups.shape != shape:
            raise RampInputError(f"{path}: GROUPDQ is {' x '.join(map(str, groups.shape))}, SCI "
                                 f"{' x '.join(map(str, shape))}")
        groups = groups[integration] if groups.ndim == 4 else groups
        flagged = np.ascontiguousarray(to_readout(first_unusable(groups), fast, slow))
        found = FlaggedJumps.from_groupdq(groups, fast, slow) if jumps else None
    if pixel is not None:
        if shape is not None and pixel.shape != shape[-2:]:
            raise RampInputError(f"{path}: PIXELDQ is {' x '.join(map(str, pixel.shape))}, the images "
                                 f"{' x '.join(map(str, shape[-2:]))}")
        pixel = np.ascontiguousarray(to_readout(pixel.astype(np.uint32), fast, slow))
    return UpstreamFlags(flagged, pixel, found)
