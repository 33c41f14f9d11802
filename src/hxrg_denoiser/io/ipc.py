"""``--ipc FILE``: a detector's interpixel-capacitance kernel as a FITS file holds it
(:class:`~hxrg_denoiser.classical.ipc.IpcKernel` makes it a kernel).

The kernel is the ``SCI`` extension's image, else the first image: 2D (a forward kernel, or a JWST ``IPC``
reference file's deconvolution kernel), or 4D as JWST's per-pixel kernels, shape ``(ny, nx, n_rows,
n_cols)``, which is averaged over the pixels.
"""

from __future__ import annotations

import os

import numpy as np

from hxrg_denoiser.errors import RampInputError, one_line
from hxrg_denoiser.io.fits_image import open_fits

__all__ = ["read_ipc_kernel"]


def read_ipc_kernel(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """The kernel image of the FITS file ``path`` and its description (the file's name).

    Returns
    -------
    kernel : ndarray, shape (ny, nx), float64
        As stored (its values are checked by :class:`~hxrg_denoiser.classical.ipc.IpcKernel`).
    source : str

    Raises
    ------
    RampInputError
        One line naming the file: missing, not FITS, no image, an image neither 2D nor 4D.
    """
    path = os.fspath(path)
    name = f"--ipc {path}"
    with open_fits(path, name, raw=False, hint=" (give a kernel file or a coupling such as 0.015)") as hdul:
        try:
            images = [hdul["SCI"]] if "SCI" in hdul else [h for h in hdul if h.is_image and h.data is not None]
            data = None if not images or images[0].data is None else np.asarray(images[0].data, dtype=np.float64)
        except (OSError, ValueError, TypeError) as err:
            raise RampInputError(f"{name}: not a readable FITS file ({one_line(err)})") from None
    if data is None:
        raise RampInputError(f"{name}: no image holding a kernel")
    source = os.path.basename(path)
    if data.ndim == 4:  # JWST: one kernel per pixel
        data = np.nanmean(data.reshape(data.shape[0], data.shape[1], -1), axis=2)
        source = f"{source} (mean of the pixels' kernels)"
    if data.ndim != 2:
        raise RampInputError(f"{name}: a kernel is a 2D image (or JWST's 4D per-pixel kernels), got shape {data.shape}")
    return data, source
