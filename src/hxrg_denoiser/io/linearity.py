"""Non-linearity correction files (``--linearity``): a JWST ``LINEARITY`` reference file or a plain cube.

Two layouts are read:

* the JWST ``LINEARITY`` reference file: extension ``COEFFS``, shape ``(n_coefficients, n_rows, n_cols)``,
  and an optional ``DQ`` extension whose ``NO_LIN_CORR`` bit (2**20) marks pixels without a correction;
* a FITS file whose first 3D image holds the coefficients in the same order.

The coefficients are ``c[0] + c[1] S + c[2] S**2 + ...`` for the signal ``S`` in the data's input units
(DN before gain), as JWST's are (:mod:`hxrg_denoiser.classical.linearity`). Pixels whose coefficients are
not finite are left uncorrected and flagged ``NO_LIN_CORR`` where the file's ``DQ`` says so; elsewhere a
non-finite coefficient on a science pixel is refused. Reference pixels are never corrected.

The correction's validity limit, when the file gives one (an image extension ``LIMIT`` or the header
keyword ``LINLIMIT``, signal in input units), makes a read at or above it count as saturated: it is not
used and the pixel is flagged ``SATURATED``, as JWST's saturation reference levels are set where the
correction ends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from hxrg_denoiser.errors import RampInputError, one_line
from hxrg_denoiser.io.fits_image import open_fits
from hxrg_denoiser.io.maps import AS_STORED, MapFrame, in_frame
from hxrg_denoiser.io.safety import atomic_output

__all__ = ["Linearity", "open_linearity", "write_linearity", "NO_LIN_CORR_BIT"]

NO_LIN_CORR_BIT = 2**20  # JWST's flag of a pixel without a non-linearity correction
CHECK_ROWS = 256  # rows of coefficients checked at a time


@dataclass
class Linearity:
    """A non-linearity correction for an image of ``uncorrected.shape``, read row band by row band
    (applied by :func:`hxrg_denoiser.classical.linearity.linearize`).

    Attributes
    ----------
    path : str
    coefficients : ndarray, shape (n_coefficients, n_rows, n_cols)
        Memory-mapped where the file allows it; read row band by row band.
    uncorrected : ndarray, shape (n_rows, n_cols), bool
        Science pixels the file has no correction for (flagged ``NO_LIN_CORR`` in the output).
    correct : ndarray, shape (n_rows, n_cols), bool
        Pixels corrected: science pixels with coefficients.
    limit : float, ndarray of shape (n_rows, n_cols) or None
        Signal (input units) up to which the correction holds.
    first_read : int
        Index in the whole ramp of the first read the corrected reads start at.
    """

    path: str
    coefficients: np.ndarray
    uncorrected: np.ndarray
    correct: np.ndarray
    limit: float | np.ndarray | None
    first_read: int
    _hdul: fits.HDUList | None = None

    def band(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, float | np.ndarray | None]:
        """Rows ``start:stop``: the coefficients (float32), the pixels to correct, and the limit."""
        limit = self.limit[start:stop] if isinstance(self.limit, np.ndarray) else self.limit
        return np.asarray(self.coefficients[:, start:stop], dtype=np.float32), self.correct[start:stop], limit

    def close(self) -> None:
        """Release the file."""
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None


def open_linearity(source: str | os.PathLike, reference_mask: np.ndarray, first_read: int = 0,
                   frame: MapFrame = AS_STORED) -> Linearity:
    """The correction of ``source`` for data whose image has ``reference_mask.shape``.

    Parameters
    ----------
    source : path
        A JWST ``LINEARITY`` reference file or a FITS file with a 3D coefficient cube (see the module).
    reference_mask : ndarray, shape (n_rows, n_cols), bool
        The data's reference pixels (never corrected).
    first_read : int
        Index in the whole ramp of the first read used.
    frame : MapFrame
        Where the data file's pixels lie in this file (:class:`~hxrg_denoiser.io.maps.MapFrame`): stored in
        the data file's orientation, or full frame for a subarray; its arrays are cut and turned to readout
        order, the data's (read whole then, not memory-mapped).

    Raises
    ------
    RampInputError
        One line naming the file: missing, not FITS, no coefficient cube, another image shape, fewer than
        two coefficients, non-finite coefficients on a science pixel that its DQ does not flag, a limit
        that is not a positive number.
    """
    path = os.fspath(source)
    name = f"--linearity {path}"
    hdul = open_fits(path, name, raw=False)
    try:
        try:
            coefficients, flags, limit = _layout(hdul, name)
        except (OSError, ValueError, TypeError) as err:
            if isinstance(err, RampInputError):
                raise
            raise RampInputError(f"{name}: not a readable FITS file ({one_line(err)})") from None
        shape = reference_mask.shape
        placed = in_frame(coefficients, shape, frame)  # as stored where the frame is the data's own
        if placed is None:
            stored = frame.stored_shape(shape)
            raise RampInputError(f"{name}: coefficients are {coefficients.shape[1]} x {coefficients.shape[2]}, the "
                                 f"data are {stored[0]} x {stored[1]}")
        coefficients = placed
        if flags is not None:
            flags = _placed(flags, shape, frame)
        if isinstance(limit, np.ndarray) and limit.ndim == 2:
            limit = _placed(limit, shape, frame)  # one of another shape: _limit says so
        if coefficients.shape[0] < 2:
            raise RampInputError(f"{name}: {coefficients.shape[0]} coefficient per pixel, a correction needs at "
                                 "least 2 (c0 + c1 S)")
        flagged = np.zeros(shape, dtype=bool) if flags is None else (flags & NO_LIN_CORR_BIT) != 0
        missing = _non_finite(coefficients) & ~reference_mask
        refused = missing & ~flagged
        if refused.any():
            y, x = np.argwhere(refused)[0]
            raise RampInputError(f"{name}: non-finite coefficient at row {y}, column {x} ({int(refused.sum())} "
                                 "science pixels) that its DQ does not flag NO_LIN_CORR")
        uncorrected = (missing | flagged) & ~reference_mask
        correct = ~uncorrected & ~reference_mask
        return Linearity(path, coefficients, uncorrected, correct, _limit(limit, shape, name), first_read, hdul)
    except BaseException:
        hdul.close()
        raise


def _placed(data: np.ndarray, shape: tuple[int, int], frame: MapFrame) -> np.ndarray:
    """``data`` :func:`~hxrg_denoiser.io.maps.in_frame`, or as it is where it does not fit (its shape is checked
    where it is used)."""
    placed = in_frame(data, shape, frame)
    return data if placed is None else placed


def write_linearity(path: str | os.PathLike, coefficients: np.ndarray, *, header: dict | None = None,
                    overwrite: bool = False) -> None:
    """Write coefficients in the JWST ``LINEARITY`` layout (``COEFFS`` and a ``DQ`` of zeros), atomically.

    Parameters
    ----------
    coefficients : ndarray, shape (n_coefficients, n_rows, n_cols)
        ``c[0] + c[1] S + ...`` per pixel, ``S`` in the data's input units.
    header : dict, optional
        Primary header cards, ``{key: (value, comment)}``.
    """
    primary = fits.PrimaryHDU()
    primary.header["REFTYPE"] = ("LINEARITY", "reference file type")
    for key, card in (header or {}).items():
        primary.header[key] = card
    hdul = fits.HDUList([primary, fits.ImageHDU(np.asarray(coefficients, dtype=np.float32), name="COEFFS"),
                         fits.ImageHDU(np.zeros(coefficients.shape[1:], dtype=np.uint32), name="DQ")])
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdul.writeto(tmp, overwrite=True)


def _layout(hdul: fits.HDUList, name: str) -> tuple[np.ndarray, np.ndarray | None, object]:
    """The coefficient cube, the DQ image (or None) and the limit (image, number or None) of an open file."""
    names = [hdu.name for hdu in hdul]
    if "COEFFS" in names:
        coefficients = hdul["COEFFS"].data
    else:
        cubes = [hdu for hdu in hdul if hdu.is_image and hdu.header.get("NAXIS") == 3]
        if not cubes:
            raise RampInputError(f"{name}: holds no coefficient cube (a COEFFS extension or a 3D image)")
        coefficients = cubes[0].data
    if coefficients is None or coefficients.ndim != 3:
        raise RampInputError(f"{name}: its coefficients are not a 3D cube (n_coefficients, rows, columns)")
    flags = None
    if "DQ" in names:  # an unsigned DQ is scaled (BZERO), which a memory map cannot hold: read on its own
        with fits.open(hdul.filename(), memmap=False) as whole:
            data = whole["DQ"].data
            flags = None if data is None else np.asarray(data).astype(np.int64)
    limit: object = hdul["LIMIT"].data if "LIMIT" in names else hdul[0].header.get("LINLIMIT")
    return coefficients, flags, limit


def _non_finite(coefficients: np.ndarray) -> np.ndarray:
    """Pixels with a non-finite coefficient, the cube read a band of rows at a time."""
    n_rows = coefficients.shape[1]
    out = np.zeros(coefficients.shape[1:], dtype=bool)
    for start in range(0, n_rows, CHECK_ROWS):
        band = np.asarray(coefficients[:, start:start + CHECK_ROWS])
        out[start:start + CHECK_ROWS] = ~np.isfinite(band).all(axis=0)
    return out


def _limit(value: object, shape: tuple[int, int], name: str) -> float | np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        limit = np.asarray(value, dtype=np.float32)
        if limit.shape != shape:
            raise RampInputError(f"{name}: LIMIT is {' x '.join(map(str, limit.shape))}, the data are "
                                 f"{shape[0]} x {shape[1]}")
        if not (np.isfinite(limit) & (limit > 0)).all():
            raise RampInputError(f"{name}: LIMIT holds values that are not finite numbers > 0")
        return limit
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < np.inf:
        raise RampInputError(f"{name}: LINLIMIT = {value!r} is not a number > 0")
    return float(value)
