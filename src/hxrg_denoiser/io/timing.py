"""The time between reads of a ramp and the unit of its values, from options, the file's header or the geometry.

JWST ramps say it in ``TGROUP`` (seconds between groups), which is
``(NFRAMES + GROUPGAP) * TFRAME``; NIRPS and SPIRou ramps give ``FRMTIME`` (the
frame time, one read per frame), as do this package's outputs. Without such
keywords the geometry's own frame time is used: the time to read ``n_rows``
rows, which is right for a window readout of that size and wrong for a crop of
a full-frame exposure (``full_frame=True`` takes the preset's whole array).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from astropy.io import fits

from hxrg_denoiser.errors import GeometryError, RampInputError, UsageError
from hxrg_denoiser.geometry import PRESETS, ReadoutGeometry

__all__ = ["ReadTiming", "read_timing", "data_unit", "ELECTRON_UNITS"]

ELECTRON_UNITS = frozenset({"e-", "e", "electron", "electrons", "e-/s", "electrons/s"})
_TOLERANCE = 0.01  # relative disagreement of TGROUP with (NFRAMES + GROUPGAP) * TFRAME that is refused


@dataclass(frozen=True)
class ReadTiming:
    """Seconds between successive reads (groups) and where that number came from."""

    group_time: float
    source: str


def _keyword(header: fits.Header, key: str, source: str) -> float | None:
    if key not in header:
        return None
    value = header[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise RampInputError(f"{source}: header keyword {key} = {value!r} is not a time > 0")
    return float(value)


def read_timing(header: fits.Header, geometry: ReadoutGeometry, source: str, *, frame_time: float | None = None,
                full_frame: bool = False) -> ReadTiming:
    """The time between reads: ``frame_time`` if given, else the header's, else the geometry's.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The ramp's keywords (:attr:`~hxrg_denoiser.io.ramps.Ramp.header`).
    geometry : ReadoutGeometry
        The data's readout (a strip of a preset has the preset's name).
    source : str
        The input, for messages.
    frame_time : float, optional
        Seconds between reads (``--frame-time``), which wins over everything.
    full_frame : bool
        Without timing keywords: the reads are crops of full-frame reads, so the frame time is the
        preset's whole array's (``--full-frame-timing``).

    Raises
    ------
    RampInputError
        If a timing keyword is not a positive number, or TGROUP disagrees with NFRAMES, GROUPGAP and TFRAME.
    UsageError
        If ``full_frame`` is asked for a geometry that is no preset.
    """
    if frame_time is not None:
        return ReadTiming(float(frame_time), "--frame-time")
    tgroup = _keyword(header, "TGROUP", source)
    tframe = _keyword(header, "TFRAME", source)
    nframes = header.get("NFRAMES", 1)
    groupgap = header.get("GROUPGAP", 0)
    if not isinstance(nframes, int) or isinstance(nframes, bool) or nframes < 1:
        raise RampInputError(f"{source}: header keyword NFRAMES = {nframes!r} is not a whole number >= 1")
    if not isinstance(groupgap, int) or isinstance(groupgap, bool) or groupgap < 0:
        raise RampInputError(f"{source}: header keyword GROUPGAP = {groupgap!r} is not a whole number >= 0")
    if tgroup is not None and tframe is not None:
        expected = (nframes + groupgap) * tframe
        if abs(tgroup - expected) > _TOLERANCE * expected:
            raise RampInputError(f"{source}: inconsistent timing: TGROUP = {tgroup:g} s but (NFRAMES + GROUPGAP) x "
                                 f"TFRAME = ({nframes} + {groupgap}) x {tframe:g} = {expected:g} s")
    if tgroup is not None:
        return ReadTiming(tgroup, "TGROUP")
    if tframe is not None:
        return ReadTiming((nframes + groupgap) * tframe, "TFRAME")
    frmtime = _keyword(header, "FRMTIME", source)
    if frmtime is not None:
        return ReadTiming(frmtime, "FRMTIME")
    if full_frame:
        if geometry.name not in PRESETS:
            raise UsageError(f"--full-frame-timing: geometry {geometry.name!r} is no preset; give --frame-time")
        full = PRESETS[geometry.name]
        if (full.n_cols, full.n_channels) != (geometry.n_cols, geometry.n_channels):
            raise GeometryError(f"{source}: the reads are not a crop of a {geometry.name} frame")
        return ReadTiming(full.frame_time, f"{geometry.name} full frame")
    return ReadTiming(geometry.frame_time, f"geometry {geometry.n_rows} rows")


def data_unit(header: fits.Header, gain_given: bool) -> str:
    """``"e-"`` when the values are electrons (a gain was given, or the header's BUNIT says so), else ``"DN"``."""
    if gain_given:
        return "e-"
    unit = str(header.get("BUNIT", "")).strip().lower()
    return "e-" if unit in ELECTRON_UNITS else "DN"
