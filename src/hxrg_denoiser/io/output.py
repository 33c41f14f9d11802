"""Writing outputs atomically: a temporary file in the target folder, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import OutputError

__all__ = ["check_output_path", "atomic_output", "write_flux_image", "write_image"]


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse an output that exists (unless ``overwrite``) or whose folder is missing."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: output exists; pass --overwrite (overwrite=True) to replace it")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file name")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: output folder {path.parent} does not exist")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = check_output_path(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if path.exists() and not overwrite:  # appeared while we worked
            raise OutputError(f"{path}: output appeared while writing; not replaced")
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_image(path: str | os.PathLike, data: np.ndarray, *, header: dict | None = None, overwrite: bool = False) -> Path:
    """Write one array as the primary HDU of a FITS file, atomically."""
    hdu = fits.PrimaryHDU(data, header=_header(header or {}))
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdu.writeto(tmp, overwrite=True)
    return Path(path)


def write_flux_image(path: str | os.PathLike, image, *, overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write a :class:`~hxrg_denoiser.fitting.FluxImage` as ``SCI``, ``ERR`` and ``DQ`` extensions.

    Parameters
    ----------
    path : path-like
        Output FITS file; refused if it exists unless ``overwrite``.
    image : FluxImage
    extra : dict, optional
        More header keywords for the primary HDU.
    """
    meta = image.meta
    cards = {
        "ORIGIN": ("hxrg-denoiser", "software that made this file"),
        "HXRGVER": (meta["version"], "hxrg-denoiser version"),
        "METHOD": (meta["method"], "flux estimator"),
        "NREADS": (meta["n_reads"], "number of reads in the ramp"),
        "GEOMETRY": (meta["geometry"], "readout geometry"),
        "GAIN": (meta["gain"], "electrons per input unit"),
        "RDNOISE": (round(float(meta["read_noise"]), 4), "[e-] white read noise per read used for ERR"),
        "FRMTIME": (meta["frame_time"], "[s] frame time"),
        "INPUT": (os.path.basename(meta["input"].rstrip("/"))[:60], "input ramp"),
    }
    cards.update(extra or {})
    primary = fits.PrimaryHDU(header=_header(cards))
    units = meta["units"]
    sci = fits.ImageHDU(image.sci, name="SCI", header=_header({"BUNIT": (units, "electrons over ramp or per s")}))
    err = fits.ImageHDU(image.err, name="ERR", header=_header({"BUNIT": (units, "1-sigma uncertainty")}))
    dq_cards = {f"DQBIT{int(np.log2(int(f))):02d}": (f.name, f"value {int(f)}") for f in PixelFlag}
    dq = fits.ImageHDU(image.dq.astype(np.uint32), name="DQ", header=_header(dq_cards))
    with atomic_output(path, overwrite=overwrite) as tmp:
        fits.HDUList([primary, sci, err, dq]).writeto(tmp, overwrite=True)
    return Path(path)


def _header(cards: dict) -> fits.Header:
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    return header
