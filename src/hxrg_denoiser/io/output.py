"""Writing outputs atomically: a temporary file in the target folder, then a rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import OutputError

__all__ = ["check_output_path", "atomic_output", "write_flux_image", "write_image", "RampWriter"]


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
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
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
        "RDNOISE": (round(float(meta["read_noise"]), 4), "[e-] white read noise per read used for ERR")
        if np.isfinite(meta["read_noise"])
        else None,
        "FRMTIME": (meta["frame_time"], "[s] frame time"),
        "INPUT": (os.path.basename(meta["input"].rstrip("/"))[:60], "input ramp"),
    }
    if "model" in meta:
        cards["MODEL"] = (meta["model"], "denoising model")
        cards["ARCH"] = (meta["architecture"], "model architecture")
        cards["MODELVER"] = (meta["model_version"], "package version the model was trained with")
        cards["LABREADS"] = (meta["label_reads"], "SCI is electrons over this many frames")
        cards["PRECISN"] = (meta["precision"], "inference precision")
    cards = {k: v for k, v in cards.items() if v is not None}
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _header(cards: dict) -> fits.Header:
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    return header


class RampWriter:
    """Write a ramp read by read as a 3D FITS cube or a folder of per-read files, atomically.

    The data go to a temporary file (or folder) beside the target, renamed
    onto it when every read has been written; on error nothing is left.

    Parameters
    ----------
    path : path-like
        ``cube.fits`` for ``layout="cube"``, a folder for ``layout="reads"``.
    n_reads : int
    shape : tuple of int
        ``(n_rows, n_cols)``.
    layout : {"cube", "reads"}
    dtype : {"float32", "uint16"}
        uint16 values are electrons / gain rounded and clipped to 0..65535.
    gain : float
        Electrons per output unit.
    header : dict, optional
        Keywords for the primary header (the cube's, or every read's).
    overwrite : bool
    """

    def __init__(
        self,
        path: str | os.PathLike,
        n_reads: int,
        shape: tuple[int, int],
        *,
        layout: str = "cube",
        dtype: str = "float32",
        gain: float = 1.0,
        header: dict | None = None,
        overwrite: bool = False,
    ) -> None:
        if layout not in ("cube", "reads"):
            raise ValueError(f"layout must be 'cube' or 'reads', got {layout!r}")
        if dtype not in ("float32", "uint16"):
            raise ValueError(f"dtype must be 'float32' or 'uint16', got {dtype!r}")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise OutputError(f"{self.path}: output exists; pass --overwrite (overwrite=True) to replace it")
        if not self.path.parent.is_dir():
            raise OutputError(f"{self.path}: output folder {self.path.parent} does not exist")
        self.n_reads, self.shape, self.layout, self.dtype, self.gain = n_reads, shape, layout, dtype, gain
        self.cards = {"BUNIT": ("e-" if gain == 1.0 else "ADU", "data unit"), "GAIN": (gain, "electrons per unit")}
        self.cards.update(header or {})
        self.written = 0
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        os.chmod(self._tmp, 0o777 & ~_umask())
        self._stream = None

    def _convert(self, read: np.ndarray) -> np.ndarray:
        data = read if self.gain == 1.0 else read / np.float32(self.gain)
        if self.dtype == "uint16":
            return np.clip(np.round(data), 0, 65535).astype(np.uint16)
        return data.astype(np.float32, copy=False)

    def write(self, read: np.ndarray) -> None:
        """Append the next read, shape ``(n_rows, n_cols)``, electrons."""
        if read.shape != tuple(self.shape):
            raise ValueError(f"read of shape {read.shape}, expected {self.shape}")
        if self.written >= self.n_reads:
            raise ValueError(f"all {self.n_reads} reads are already written")
        data = self._convert(read)
        if self.layout == "reads":
            hdu = fits.PrimaryHDU(data, header=_header({**self.cards, "READNUM": (self.written, "read index")}))
            hdu.writeto(self._tmp / f"read_{self.written:03d}.fits")
        else:
            if self._stream is None:
                self._stream = fits.StreamingHDU(self._tmp / "cube.fits", self._cube_header(data.dtype))
            if data.dtype == np.uint16:
                data = (data.astype(np.int32) - 32768).astype(np.int16)
            self._stream.write(data)
        self.written += 1

    def _cube_header(self, dtype: np.dtype) -> fits.Header:
        header = fits.Header()
        header["SIMPLE"] = True
        header["BITPIX"] = 16 if dtype == np.uint16 else -32
        header["NAXIS"] = 3
        header["NAXIS1"] = self.shape[1]
        header["NAXIS2"] = self.shape[0]
        header["NAXIS3"] = self.n_reads
        if dtype == np.uint16:
            header["BZERO"] = 32768
            header["BSCALE"] = 1
        header.update(_header(self.cards))
        return header

    def close(self) -> None:
        """Finish: rename the complete output onto its path."""
        if self.written != self.n_reads:
            raise ValueError(f"{self.path}: {self.written} of {self.n_reads} reads written")
        if self._stream is not None:
            self._stream.close()
        if self.path.exists():
            shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
        if self.layout == "cube":
            os.replace(self._tmp / "cube.fits", self.path)
            self._tmp.rmdir()
        else:
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Remove everything written so far."""
        if self._stream is not None:
            self._stream._ffo.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> RampWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
