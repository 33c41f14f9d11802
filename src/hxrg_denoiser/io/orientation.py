"""Science (DMS) orientation and the detector's readout order of JWST arrays.

JWST files hold images in science orientation; ``FASTAXIS`` and ``SLOWAXIS`` (``meta.subarray.fastaxis``,
``slowaxis``) say along which image axis, and in which direction, the detector's outputs read pixels
(1: +x, -1: -x, 2: +y, -2: -y). Noise that follows the readout (1/f along the fast axis, channel offsets,
alternating columns) is only removed where it is fitted in readout order: NIRSpec's detectors
(``FASTAXIS = +-2``) are transposed with respect to NIRCam's. :func:`to_readout` puts the fast axis along
+x (the last axis) and the slow axis along +y; :func:`to_science` undoes it.

:func:`~hxrg_denoiser.io.ramps.open_ramp` hands out a file whose header states another orientation in readout
order (:class:`~hxrg_denoiser.io.ramps.ReadoutOrderRamp`), and the product writers put every image back in the file's orientation,
so that fits, cleaning and models always see the readout as it happened.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from hxrg_denoiser.errors import RampInputError

__all__ = ["to_readout", "to_science", "check_axes", "axes_of", "READOUT_ORDER"]

READOUT_ORDER = (1, 2)  # FASTAXIS, SLOWAXIS of an array already in readout order


def check_axes(fastaxis: object, slowaxis: object, source: str = "input") -> tuple[int, int]:
    """``(fastaxis, slowaxis)`` as integers, refused in one line unless they are +-1 and +-2 in some order."""
    try:
        fast, slow = int(fastaxis), int(slowaxis)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise RampInputError(f"{source}: FASTAXIS = {fastaxis!r}, SLOWAXIS = {slowaxis!r} are not axis numbers") from None
    if {abs(fast), abs(slow)} != {1, 2}:
        raise RampInputError(f"{source}: FASTAXIS = {fast}, SLOWAXIS = {slow}: expected +-1 and +-2, one each")
    return fast, slow


def to_readout(data: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """A science-oriented array (last two axes ``y, x``) in readout order: fast axis along +x, slow along +y.

    Parameters
    ----------
    data : ndarray, shape (..., n_y, n_x)
    fastaxis, slowaxis : int
        The file's ``FASTAXIS`` and ``SLOWAXIS``.

    Returns
    -------
    ndarray
        A view: shape ``(..., n_y, n_x)`` where the fast axis is x, else ``(..., n_x, n_y)``.
    """
    if abs(fastaxis) == 1:
        return data[..., :: int(np.sign(slowaxis)), :: int(np.sign(fastaxis))]
    return np.swapaxes(data[..., :: int(np.sign(fastaxis)), :: int(np.sign(slowaxis))], -2, -1)


def to_science(data: np.ndarray, fastaxis: int, slowaxis: int) -> np.ndarray:
    """The inverse of :func:`to_readout`: an array in readout order back in science orientation (a view)."""
    if abs(fastaxis) == 1:
        return data[..., :: int(np.sign(slowaxis)), :: int(np.sign(fastaxis))]
    return np.swapaxes(data, -2, -1)[..., :: int(np.sign(fastaxis)), :: int(np.sign(slowaxis))]


def axes_of(header: fits.Header | None, source: str = "input") -> tuple[int, int]:
    """``(FASTAXIS, SLOWAXIS)`` of a header, :data:`READOUT_ORDER` where it states neither."""
    if header is None or ("FASTAXIS" not in header and "SLOWAXIS" not in header):
        return READOUT_ORDER
    return check_axes(header.get("FASTAXIS"), header.get("SLOWAXIS"), source)
