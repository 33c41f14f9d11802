"""Dark ramps and dark-rate images to subtract from a ramp, read by read (``--dark``).

A dark holds what the detector adds to every ramp without light: dark current, hot pixels and the
start-of-ramp transient (the reset anomaly). Subtracted read by read before the fit (the JWST
``dark_current`` step's order: after the saturation check, before the reference correction), it takes
them out of every slope. Two kinds are accepted:

* a dark **ramp** (a superdark from ``hxrg superdark``, a JWST ``DARK`` reference file, or one dark
  exposure): a 3D cube, a 4D cube (its first integration) or a folder of per-read files, with at least
  as many reads (frames) as the science ramp uses; read ``k`` of it is subtracted from read ``k``. A
  dark recorded frame by frame (``NFRAMES = 1``, ``GROUPGAP = 0``) is averaged into the science ramp's
  groups when the science header says its groups average frames (``NFRAMES``, ``GROUPGAP``); a
  full-frame dark for a subarray whose header states ``SUBSTRT1``/``SUBSTRT2`` is cut to it;
* a dark **rate** image (2D, input units per second): ``rate x t`` is subtracted from the read taken
  ``t`` seconds after the first.

Values are in the science ramp's input units (before gain). A dark made by averaging ``NCOMBINE``
exposures carries ``1 / NCOMBINE`` of one exposure's read noise variance, which the read noise
measured on the subtracted reads includes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.io.maps import MapFrame, read_pixel_map
from hxrg_denoiser.io.orientation import READOUT_ORDER
from hxrg_denoiser.io.ramps import CutRamp, Ramp, ReadoutOrderRamp, open_ramp

__all__ = ["Dark", "DarkRamp", "DarkRate", "open_dark", "DarkSource"]

DarkSource = str | os.PathLike


class Dark:
    """What is subtracted from reads ``first:first + n_reads`` of a ramp (see the module)."""

    path: str
    n_combined: int | None  # exposures averaged into it; None: unknown (its noise is then taken as negligible)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of every read to subtract, float32, shape ``(n_reads, stop - start, n_cols)``."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open files."""

    @property
    def noise_variance_fraction(self) -> float:
        """The dark's read noise variance as a fraction of one exposure's (0 for a rate image)."""
        return 0.0 if not self.n_combined else 1.0 / self.n_combined


@dataclass
class DarkRamp(Dark):
    """A dark ramp whose reads ``frames[k]`` (averaged) are subtracted from read ``k`` of the science ramp."""

    ramp: Ramp
    frames: list[list[int]]
    n_combined: int | None
    path: str

    def rows(self, start: int, stop: int) -> np.ndarray:
        first = self.frames[0][0]  # only the dark's reads from the first used to the last are read
        reads = self.ramp.read_reads(start, stop, first, self.frames[-1][-1] + 1)
        out = np.stack([reads[[f - first for f in group]].mean(axis=0) if len(group) > 1 else reads[group[0] - first]
                        for group in self.frames])
        if not np.isfinite(out).all():
            k, y, x = np.argwhere(~np.isfinite(out))[0]
            raise RampInputError(f"--dark {self.path}: non-finite value in read {self.frames[k][0]} at row "
                                 f"{start + int(y)}, column {int(x)}")
        return out.astype(np.float32, copy=False)

    def close(self) -> None:
        self.ramp.close()


@dataclass
class DarkRate(Dark):
    """A dark rate image (input units per second), subtracted as ``rate x times[k]`` from read ``k``."""

    rate: np.ndarray
    times: np.ndarray
    path: str
    n_combined: int | None = None

    def rows(self, start: int, stop: int) -> np.ndarray:
        return (self.times[:, None, None] * self.rate[None, start:stop]).astype(np.float32)


def _header_int(header: fits.Header, key: str, default: int, path: object) -> int:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or value != int(value) or value < 0:
        raise RampInputError(f"{path}: header keyword {key} = {value!r} is not a whole number >= 0")
    return int(value)


def open_dark(source: DarkSource, science: Ramp, first_read: int, group_time: float) -> Dark:
    """The dark of ``source`` for reads ``first_read:first_read + science.n_reads`` of a science ramp.

    Parameters
    ----------
    source : path
        A dark ramp (cube, 4D cube, folder of reads) or a 2D dark-rate image (input units per second).
    science : Ramp
        The reads to be corrected (already without the reads left out before ``first_read``).
    first_read : int
        Index, in the whole science ramp, of its first read used.
    group_time : float
        Seconds between the science ramp's reads (for a rate image).

    Raises
    ------
    RampInputError
        One line naming the dark: missing or unreadable, another image shape, too few reads, groups
        averaged differently, non-finite values in a rate image.
    """
    path = os.fspath(source)
    shape = (science.n_rows, science.n_cols)
    if not os.path.exists(path):
        raise RampInputError(f"--dark {path}: no such file or folder")
    if os.path.isfile(path) and _is_2d(path):
        rate = read_pixel_map(path, shape, "--dark", frame=science.map_frame)
        assert isinstance(rate, np.ndarray)
        times = (np.arange(science.n_reads) + first_read) * np.float32(group_time)
        return DarkRate(rate, times.astype(np.float32), path, _n_combined(fits.getheader(path), path))
    try:
        ramp = open_ramp(path, min_reads=1)
    except RampInputError as err:
        raise RampInputError(f"--dark {err}") from None
    ramp = _in_frame(ramp, science)
    try:
        if (ramp.n_rows, ramp.n_cols) != shape:
            raise RampInputError(f"--dark {path}: reads are {ramp.n_rows} x {ramp.n_cols}, the data are "
                                 f"{shape[0]} x {shape[1]}" + (" (a full-frame dark is cut to a subarray whose "
                                 "header states SUBSTRT1 and SUBSTRT2)" if science.map_frame.start is None else ""))
        frames = _frames(ramp, science, first_read, path)
        return DarkRamp(ramp, frames, _n_combined(ramp.header, path), path)
    except BaseException:
        ramp.close()
        raise


def _in_frame(dark: Ramp, science: Ramp) -> Ramp:
    """``dark`` in the science ramp's frame: turned to readout order as the file states (a dark stating no axes
    is taken as stored like the data) and, where the data are a subarray (``SUBSTRT1``/``SUBSTRT2``) and the
    dark is larger, its reads cut to the subarray first, in the orientation both files are stored in."""
    if isinstance(dark, ReadoutOrderRamp):
        stored, axes = dark.ramp, dark.axes
    else:
        stored, axes = dark, science.axes  # stored as the data are
    frame = MapFrame(axes, science.map_frame.start)
    rows, cols = frame.stored_shape((science.n_rows, science.n_cols))
    start = frame.window((stored.n_rows, stored.n_cols), (science.n_rows, science.n_cols))
    if start is not None and (stored.n_rows, stored.n_cols) != (rows, cols):
        stored = CutRamp(stored, *start, rows, cols)
    return stored if axes == READOUT_ORDER else ReadoutOrderRamp(stored, *axes)


def _is_2d(path: str) -> bool:
    try:
        with fits.open(path) as hdul:
            images = [h for h in hdul if h.is_image and h.header.get("NAXIS", 0) >= 2]
            sci = [h for h in images if h.name == "SCI"]
            return bool(images) and (sci or images)[0].header.get("NAXIS") == 2
    except (OSError, ValueError, TypeError):
        return False  # open_ramp says what is wrong with it


def _n_combined(header: fits.Header, path: str) -> int | None:
    value = header.get("NCOMBINE")
    return None if value is None else max(1, _header_int(header, "NCOMBINE", 1, f"--dark {path}"))


def _frames(dark: Ramp, science: Ramp, first_read: int, path: str) -> list[list[int]]:
    """For each science read used, the dark reads (frames) averaged into the one subtracted from it."""
    n_frames = _header_int(science.header, "NFRAMES", 1, science.path)
    gap = _header_int(science.header, "GROUPGAP", 0, science.path)
    dark_frames = _header_int(dark.header, "NFRAMES", 1, f"--dark {path}")
    dark_gap = _header_int(dark.header, "GROUPGAP", 0, f"--dark {path}")
    if (dark_frames, dark_gap) == (n_frames, gap) or n_frames == 0:
        per_group, averaged = 1, 1
    elif (dark_frames, dark_gap) == (1, 0):
        per_group, averaged = n_frames + gap, n_frames  # a frame-by-frame dark, averaged as the groups were
    else:
        raise RampInputError(f"--dark {path}: its groups average {dark_frames} frame(s) with a gap of {dark_gap}, "
                             f"the data's {n_frames} with a gap of {gap}; give a dark read frame by frame or with "
                             "the data's readout pattern")
    groups = range(first_read, first_read + science.n_reads)
    frames = [[g * per_group + f for f in range(averaged)] for g in groups]
    needed = frames[-1][-1] + 1
    if needed > dark.n_reads:
        unit = "frames" if per_group > 1 else "reads"
        raise RampInputError(f"--dark {path}: {dark.n_reads} {unit}, the data's reads {first_read} to "
                             f"{first_read + science.n_reads - 1} need {needed}")
    return frames
