"""One image HDU of a FITS file, read band by band from disk with its scaling applied, and the checks that
name the file when it cannot be: missing, not FITS, compressed, truncated, no image of the dimensions asked
for, scaling keywords that are not numbers."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from hxrg_denoiser.errors import RampInputError, one_line

__all__ = ["ScaledImage", "open_fits", "shape_text"]


_BITPIX_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_COMPRESSED_SUFFIXES = (".gz", ".fz", ".bz2", ".zip", ".xz")


class ScaledImage:
    """The data array of one FITS HDU, read band by band from disk with BSCALE/BZERO applied.

    Headers are parsed with astropy; the data are read with positioned reads of
    only the rows asked for, so memory stays bounded by what the caller holds
    (a memory map would keep every touched page resident).
    """

    def __init__(self, path: Path, hdu: int | str | None, ndims: tuple[int, ...]) -> None:
        self.path = path
        if path.suffix.lower() in _COMPRESSED_SUFFIXES:
            raise RampInputError(f"{path}: compressed files are not supported; decompress it first")
        # astropy warns (and, with warnings as errors, fails half-way) on truncated files:
        # our own check below reports them with the file name.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            hdul = open_fits(path)
            try:
                chosen = _select_hdu(hdul, hdu, ndims, path)
                if isinstance(chosen, fits.CompImageHDU):
                    raise RampInputError(f"{path}: tile-compressed HDU {chosen.name!r} is not supported; decompress it first")
                header = chosen.header
                self.header = hdul[0].header.copy() if chosen is not hdul[0] else fits.Header()
                self.header.extend(header, update=True)
                self.name = chosen.name or "PRIMARY"
                self.shape = tuple(int(header[f"NAXIS{i}"]) for i in range(header["NAXIS"], 0, -1))
                bitpix = header.get("BITPIX")
                if bitpix not in _BITPIX_DTYPES:
                    raise RampInputError(f"{path}: HDU {self.name!r} has BITPIX = {bitpix!r}, which is not a FITS "
                                         f"image type ({', '.join(map(str, _BITPIX_DTYPES))})")
                self.dtype = np.dtype(_BITPIX_DTYPES[bitpix])
                self.offset = _data_offset(chosen, self.shape, self.dtype, path)
                self.bscale = _header_number(header, "BSCALE", 1.0, path)
                self.bzero = _header_number(header, "BZERO", 0.0, path)
                # BLANK marks undefined pixels of integer images; they are read as NaN.
                self.blank = int(_header_number(header, "BLANK", 0, path)) if bitpix > 0 and "BLANK" in header else None
            finally:
                hdul.close()
        self.fd: int | None = os.open(path, os.O_RDONLY)
        self.row_bytes = self.shape[-1] * self.dtype.itemsize
        self.plane_rows = self.shape[-2]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read_band(self, plane: int, start: int, stop: int, out: np.ndarray) -> None:
        """Rows ``start:stop`` of 2D plane ``plane`` (leading axes flattened) into ``out`` (float32)."""
        first_row = plane * self.plane_rows + start
        n_bytes = (stop - start) * self.row_bytes
        if self.fd is None:
            raise ValueError(f"{self.path}: read after close")
        buffer = os.pread(self.fd, n_bytes, self.offset + first_row * self.row_bytes)
        if len(buffer) != n_bytes:
            raise RampInputError(f"{self.path}: file ended while reading rows {start}:{stop}; truncated?")
        raw = np.frombuffer(buffer, dtype=self.dtype).reshape(stop - start, self.shape[-1])
        out[...] = raw
        if self.blank is not None:
            out[raw == self.blank] = np.nan
        if self.bscale != 1.0:
            out *= np.float32(self.bscale)
        if self.bzero != 0.0:
            out += np.float32(self.bzero)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def open_fits(path: str | os.PathLike, label: str | None = None, *, raw: bool = True, hint: str = "") -> fits.HDUList:
    """The FITS file ``path``, memory-mapped, read-only (``raw``: its integers as stored, without ``BSCALE``).

    Raises
    ------
    RampInputError
        One line starting with ``label`` (default the path): no such file (then ``hint``), not FITS.
    """
    label = label or os.fspath(path)
    if not os.path.isfile(path):
        raise RampInputError(f"{label}: no such file{hint}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            return fits.open(path, memmap=True, do_not_scale_image_data=raw, mode="readonly")
    except (OSError, ValueError, IndexError, TypeError) as err:
        raise RampInputError(f"{label}: not a readable FITS file ({one_line(err)})") from None


def _select_hdu(hdul: fits.HDUList, hdu: int | str | None, ndims: tuple[int, ...], path: Path):
    wanted = " or ".join(f"{n}D" for n in ndims)
    if hdu is not None:
        try:
            chosen = hdul[hdu]
        except (KeyError, IndexError):
            raise RampInputError(f"{path}: no HDU {hdu!r}") from None
        naxis = chosen.header.get("NAXIS", 0)
        if naxis not in ndims:
            raise RampInputError(f"{path}: HDU {hdu!r} holds {naxis}D data, expected {wanted}")
        return chosen
    try:
        candidates = list(hdul)
    except (OSError, ValueError, IndexError, TypeError) as err:
        raise RampInputError(f"{path}: not a readable FITS file ({one_line(err)})") from None
    named_sci = [h for h in candidates if h.name == "SCI"]
    for h in named_sci + candidates:
        if h.header.get("NAXIS", 0) in ndims and h.is_image:
            return h
    found = ", ".join(f"{h.name or i}:{h.header.get('NAXIS', 0)}D" for i, h in enumerate(candidates))
    raise RampInputError(f"{path}: no {wanted} image in the file (HDUs: {found})")


def _data_offset(hdu, shape: tuple[int, ...], dtype: np.dtype, path: Path) -> int:
    """Byte offset of the HDU's data; refuses a file too short to hold them."""
    info = hdu.fileinfo()
    nbytes = int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if info is None or info["datLoc"] + nbytes > size:
        needed = (info or {}).get("datLoc", 0) + nbytes
        raise RampInputError(f"{path}: truncated FITS file ({size} bytes, the {shape_text(shape)} data need {needed})")
    return int(info["datLoc"])


def _header_number(header: fits.Header, key: str, default: float, path: Path) -> float:
    value = header.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise RampInputError(f"{path}: header keyword {key} = {value!r} is not a finite number")
    return number


def shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape)
