"""Per-pixel calibration maps (saturation level, gain, read noise) read from FITS images.

A map is stored in the orientation of the data file it goes with (JWST reference files, like the data, are
in science orientation); where that file is fitted in readout order (``FASTAXIS``/``SLOWAXIS``,
:mod:`hxrg_denoiser.io.orientation`), ``axes`` turns the map the same way, so that it lines up with the
pixels it describes.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from hxrg_denoiser.errors import RampInputError, one_line
from hxrg_denoiser.io.orientation import READOUT_ORDER, to_readout

__all__ = ["read_pixel_map", "PixelMap", "reference_type"]

PixelMap = float | str | os.PathLike | np.ndarray


def read_pixel_map(source: PixelMap, shape: tuple[int, int], what: str, *, positive: bool = False,
                   axes: tuple[int, int] = READOUT_ORDER) -> np.ndarray | float:
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
    axes : (int, int)
        The data file's ``(FASTAXIS, SLOWAXIS)`` (:attr:`hxrg_denoiser.io.ramps.Ramp.axes`): the map is stored
        in that orientation (``shape`` turned back to it) and returned in readout order, ``shape``.

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
    stored = tuple(shape) if abs(axes[0]) == 1 else (shape[1], shape[0])
    if image.shape != stored:
        raise RampInputError(f"{name}: map is {' x '.join(map(str, image.shape))}, the data are "
                             f"{stored[0]} x {stored[1]}")
    bad = ~np.isfinite(image) | ((image <= 0) if positive else np.zeros(image.shape, dtype=bool))
    if bad.any():
        y, x = np.argwhere(bad)[0]
        kind = "non-finite" if not np.isfinite(image[y, x]) else "not > 0"
        raise RampInputError(f"{name}: {kind} value at row {y}, column {x} ({int(bad.sum())} such pixels)")
    return image if tuple(axes) == READOUT_ORDER else np.ascontiguousarray(to_readout(image, *axes))


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
