"""Per-pixel calibration maps (saturation level, gain, read noise) read from FITS images.

A map is stored in the orientation of the data file it goes with (JWST reference files, like the data, are
in science orientation); where that file is fitted in readout order (``FASTAXIS``/``SLOWAXIS``,
:mod:`hxrg_denoiser.io.orientation`), the map is turned the same way, so that it lines up with the pixels it
describes. A full-frame map given for a subarray (the data's header states ``SUBSTRT1``/``SUBSTRT2``, JWST's
1-based first column and row) is cut to the subarray. :class:`MapFrame` holds both.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from hxrg_denoiser.errors import RampInputError, one_line
from hxrg_denoiser.io.orientation import READOUT_ORDER, to_readout

__all__ = ["read_pixel_map", "PixelMap", "reference_type", "MapFrame", "in_frame", "AS_STORED"]

PixelMap = float | str | os.PathLike | np.ndarray


@dataclass(frozen=True)
class MapFrame:
    """Where a data file's pixels lie in the maps given for it.

    ``axes``: the file's ``(FASTAXIS, SLOWAXIS)`` (maps are stored so, and turned to readout order);
    ``start``: ``(row, column)`` of the file's first pixel in a full-frame map (from ``SUBSTRT2``,
    ``SUBSTRT1``), None where the header states no subarray.
    """

    axes: tuple[int, int] = READOUT_ORDER
    start: tuple[int, int] | None = None

    @classmethod
    def of_header(cls, header, axes: tuple[int, int] = READOUT_ORDER) -> MapFrame:
        """The frame of a file with ``header`` and ``axes``: ``SUBSTRT1``/``SUBSTRT2`` when both are integers >= 1."""
        x, y = (header.get(key) if header is not None else None for key in ("SUBSTRT1", "SUBSTRT2"))
        valid = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in (x, y))
        return cls(tuple(axes), (int(y) - 1, int(x) - 1) if valid else None)  # type: ignore[arg-type]

    def stored_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The image shape ``shape`` (readout order) as the file stores it."""
        return (shape[0], shape[1]) if abs(self.axes[0]) == 1 else (shape[1], shape[0])

    def window(self, stored: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int] | None:
        """Where the data of ``shape`` (readout order) begin, ``(row, column)``, in an image or ramp of ``stored``
        rows and columns as the file stores them: ``(0, 0)`` where it has their stored shape, the subarray's
        start where it is larger (a full frame) and the frame says where the subarray starts; None where it
        fits neither way."""
        rows, cols = self.stored_shape(shape)
        if stored == (rows, cols):
            return (0, 0)
        if self.start is not None and stored[0] >= self.start[0] + rows and stored[1] >= self.start[1] + cols:
            return self.start
        return None

    def cut(self, data: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
        """``data`` (..., rows, columns as the file stores them) for the pixels of data of ``shape`` (readout
        order), at :meth:`window`; None where it does not fit."""
        rows, cols = self.stored_shape(shape)
        start = self.window(data.shape[-2:], shape)
        if start is None:
            return None
        return data if data.shape[-2:] == (rows, cols) else data[..., start[0]:start[0] + rows, start[1]:start[1] + cols]

    def turn(self, data: np.ndarray) -> np.ndarray:
        """``data`` (..., rows, columns as the file stores them) in readout order (itself where they agree)."""
        return data if self.axes == READOUT_ORDER else np.ascontiguousarray(to_readout(data, *self.axes))


AS_STORED = MapFrame()  # maps stored in readout order, the data's own shape


def in_frame(data: np.ndarray, shape: tuple[int, int], frame: MapFrame) -> np.ndarray | None:
    """``data`` (..., rows, columns as the file stores them) cut to the data's pixels and turned to readout
    order (:meth:`MapFrame.cut`, :meth:`MapFrame.turn`); None where it does not fit."""
    cut = frame.cut(data, shape)
    return None if cut is None else frame.turn(cut)


def read_pixel_map(source: PixelMap, shape: tuple[int, int], what: str, *, positive: bool = False,
                   frame: MapFrame = AS_STORED) -> np.ndarray | float:
    """A number, or a 2D map of ``shape`` (FITS file or array) as float32, every value checked.

    Parameters
    ----------
    source : float, path or ndarray
        A single value for every pixel, a FITS file (the first HDU holding a 2D image) or an array.
    shape : (int, int)
        The data's image shape, which a map must have.
    what : str
        What the map is (``--saturation``), for messages.
    positive : bool
        Values must be > 0 (gain, read noise); otherwise any finite value.
    frame : MapFrame
        Where the data file's pixels lie in the map (:attr:`hxrg_denoiser.io.ramps.Ramp.map_frame`): the map is
        stored in the file's orientation (``shape`` turned back to it), or is a full frame that holds the
        file's subarray, and is returned in readout order, ``shape``.

    Raises
    ------
    RampInputError
        Naming the file: missing, not FITS, no 2D image, another shape, non-finite or out-of-range values
        (rows and columns as the file stores them).
    """
    if isinstance(source, (int, float, np.floating)):
        return float(source)
    name = f"{what} {source}" if not isinstance(source, np.ndarray) else what
    if isinstance(source, np.ndarray):
        image = np.asarray(source, dtype=np.float32)
    else:
        image = _read_image(Path(source), what)
    stored = frame.stored_shape(shape)
    cut = frame.cut(image, shape)
    if cut is None:
        where = "" if frame.start is None else f" (a subarray from row {frame.start[0]}, column {frame.start[1]})"
        raise RampInputError(f"{name}: map is {' x '.join(map(str, image.shape))}, the data are "
                             f"{stored[0]} x {stored[1]}{where}")
    bad = ~np.isfinite(cut) | ((cut <= 0) if positive else np.zeros(cut.shape, dtype=bool))
    if bad.any():
        y, x = np.argwhere(bad)[0]
        kind = "non-finite" if not np.isfinite(cut[y, x]) else "not > 0"
        raise RampInputError(f"{name}: {kind} value at row {y}, column {x} ({int(bad.sum())} such pixels)")
    return frame.turn(cut)


def reference_type(source: PixelMap) -> str | None:
    """The ``REFTYPE`` a JWST (CRDS) reference file states in its primary header (``GAIN``, ``READNOISE``...);
    None for a number, an array or a file that states none."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    try:
        value = fits.getheader(source, 0).get("REFTYPE")
    except (OSError, ValueError, TypeError):
        return None  # read_pixel_map says what is wrong with it
    return str(value).upper() if value is not None else None


def _read_image(path: Path, what: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            with fits.open(path) as hdul:
                for hdu in hdul:
                    if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
                        return np.asarray(hdu.data, dtype=np.float32)
    except FileNotFoundError:
        raise RampInputError(f"{what} {path}: no such file") from None
    except (OSError, ValueError, TypeError) as err:
        raise RampInputError(f"{what} {path}: not a readable FITS image ({one_line(err)})") from None
    raise RampInputError(f"{what} {path}: holds no 2D image")
