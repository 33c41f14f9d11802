"""Lazy readers of up-the-ramp data that read only the rows asked for.

Three layouts are understood:

* a folder of per-read FITS files (one 2D image per read, sorted by name
  with numbers compared as numbers, as laboratory darks are written);
* a 3D FITS cube with the reads on NAXIS3 (primary or any named HDU);
* a JWST-style 4D cube ``(integrations, groups, rows, cols)``, usually in the
  ``SCI`` extension, of which one integration is read.

Nothing is loaded until :meth:`Ramp.read_rows` asks for a band of rows (read with
positioned file reads, not a memory map, so resident memory stays bounded), which
comes back as float32 with the FITS ``BSCALE``/``BZERO`` applied.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.io.fits_image import ScaledImage, shape_text
from hxrg_denoiser.io.maps import MapFrame
from hxrg_denoiser.io.orientation import READOUT_ORDER, axes_of, to_readout

__all__ = ["Ramp", "ArrayRamp", "FitsCubeRamp", "ReadFolderRamp", "ReadoutOrderRamp", "FirstReads", "ReadRange", "CutRamp", "open_ramp", "natural_sort_key"]

FITS_SUFFIXES = (".fits", ".fit", ".fts")


class Ramp(ABC):
    """A ramp of ``n_reads`` non-destructive reads of ``n_rows x n_cols`` pixels.

    ``header`` holds the input's keywords (the primary header, then those of the HDU with the data,
    which win; for a folder of reads, those of the first read): instrument, target, timing.
    """

    path: str
    n_reads: int
    n_rows: int
    n_cols: int
    header: fits.Header = fits.Header()
    n_integrations: int = 1  # integrations in the file (a 4D cube); this ramp is one of them
    integration: int = 0

    @property
    def axes(self) -> tuple[int, int]:
        """The input file's ``(FASTAXIS, SLOWAXIS)``: its per-pixel maps (gain, saturation...) are stored in
        that orientation, while the reads are handed out in readout order (:data:`READOUT_ORDER` where the
        two agree)."""
        return READOUT_ORDER

    @property
    def map_frame(self) -> MapFrame:
        """Where this ramp's pixels lie in the per-pixel maps given for it: the file's orientation
        (:attr:`axes`) and, where its header states a subarray (``SUBSTRT1``/``SUBSTRT2``), its place in a
        full-frame map."""
        return MapFrame.of_header(self.header, self.axes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_reads, n_rows, n_cols)``."""
        return (self.n_reads, self.n_rows, self.n_cols)

    @abstractmethod
    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of every read, float32, shape ``(n_reads, stop - start, n_cols)``."""

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        """Rows ``start:stop`` of reads ``first:end`` only, float32, shape ``(end - first, stop - start, n_cols)``
        (readers of files read no other read)."""
        return np.ascontiguousarray(self.read_rows(start, stop)[first:end])

    def _read_each(self, start: int, stop: int, first: int, end: int,
                   fill: Callable[[int, np.ndarray], None]) -> np.ndarray:
        """Rows ``start:stop`` of reads ``first:end``, each read ``k`` written by ``fill(k, out)`` (float32)."""
        self._check_rows(start, stop)
        out = np.empty((end - first, stop - start, self.n_cols), dtype=np.float32)
        for k in range(first, end):
            fill(k, out[k - first])
        return out

    def read_source(self, read_index: int) -> str:
        """Where read ``read_index`` comes from, for error messages."""
        return f"{self.path} (read {read_index})"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open files."""

    def __enter__(self) -> Ramp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_rows(self, start: int, stop: int) -> None:
        if not 0 <= start < stop <= self.n_rows:
            raise IndexError(f"{self.path}: rows {start}:{stop} outside 0:{self.n_rows}")


class ArrayRamp(Ramp):
    """A ramp held in memory, shape ``(n_reads, n_rows, n_cols)``; for the Python API and tests."""

    def __init__(self, data: np.ndarray, name: str = "<array>") -> None:
        data = np.asarray(data)
        if data.ndim != 3:
            raise RampInputError(f"{name}: ramp array must be 3D (reads, rows, cols), got shape {data.shape}")
        self.data = data
        self.path = name
        self.n_reads, self.n_rows, self.n_cols = data.shape

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.read_reads(start, stop, 0, self.n_reads)

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        self._check_rows(start, stop)
        return np.array(self.data[first:end, start:stop], dtype=np.float32, copy=True)


class FitsCubeRamp(Ramp):
    """A ramp stored as a 3D cube or one integration of a 4D cube in a FITS file."""

    def __init__(self, path: str | os.PathLike, *, hdu: int | str | None = None, integration: int = 0) -> None:
        self.path = str(path)
        self._image = ScaledImage(Path(path), hdu, (3, 4))
        shape = self._image.shape
        self._first_plane = 0
        if len(shape) == 4:
            if not 0 <= integration < shape[0]:
                self.close()
                raise RampInputError(f"{path}: integration {integration} does not exist (the 4D cube has {shape[0]})")
            self._first_plane = integration * shape[1]
            self.n_integrations, self.integration = shape[0], integration
        self.n_reads, self.n_rows, self.n_cols = shape[-3:]
        self.hdu_name = self._image.name
        self.header = self._image.header

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.read_reads(start, stop, 0, self.n_reads)

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        return self._read_each(start, stop, first, end,
                               lambda k, out: self._image.read_band(self._first_plane + k, start, stop, out))

    def read_source(self, read_index: int) -> str:
        return f"{self.path}[{self.hdu_name}] (read {read_index})"

    def close(self) -> None:
        self._image.close()


class ReadFolderRamp(Ramp):
    """A ramp stored as one 2D FITS image per read in a folder."""

    def __init__(self, folder: str | os.PathLike, *, hdu: int | str | None = None) -> None:
        folder = Path(folder)
        self.path = str(folder)
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in FITS_SUFFIXES and p.is_file()),
            key=lambda p: natural_sort_key(p.name),
        )
        if not files:
            raise RampInputError(f"{folder}: folder holds no FITS files ({', '.join(FITS_SUFFIXES)})")
        _allow_open_files(len(files), folder)
        self.files = files
        self._images: list[ScaledImage] = []
        try:
            for file in files:
                image = ScaledImage(file, hdu, (2,))
                self._images.append(image)
                if image.shape != self._images[0].shape:
                    raise RampInputError(
                        f"{file}: read is {shape_text(image.shape)} but {files[0].name} is "
                        f"{shape_text(self._images[0].shape)}; all reads must have the same shape"
                    )
        except Exception:
            self.close()
            raise
        self.n_reads = len(files)
        self.n_rows, self.n_cols = self._images[0].shape
        self.header = self._images[0].header

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.read_reads(start, stop, 0, self.n_reads)

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        self._check_rows(start, stop)
        out = np.empty((end - first, stop - start, self.n_cols), dtype=np.float32)
        for k in range(first, end):
            self._images[k].read_band(0, start, stop, out[k - first])
        return out

    def read_source(self, read_index: int) -> str:
        return str(self.files[read_index])

    def close(self) -> None:
        for image in self._images:
            image.close()
        self._images = []


OPEN_FILE_MARGIN = 256  # files a command keeps open besides the reads (libraries, outputs, models)


def _allow_open_files(count: int, folder: Path) -> None:
    """Raise this process's open-file limit so that ``count`` reads can stay open, or refuse in one line.

    Raises
    ------
    RampInputError
        If the hard limit is too low.
    """
    import resource

    needed = count + OPEN_FILE_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RampInputError(f"{folder}: {count} reads are read at once, which needs {needed} open files; this "
                             f"system allows {hard} (raise it with ulimit -n, or stack the reads into a cube)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class ReadoutOrderRamp(Ramp):
    """A ramp read in another orientation, handed out in readout order (see the module).

    Each call reads the whole of the reads asked for (a transposed strip is a band of the file's columns)
    one read at a time: memory holds one read of the file beyond the rows returned.
    """

    def __init__(self, ramp: Ramp, fastaxis: int, slowaxis: int) -> None:
        self.ramp, self.fastaxis, self.slowaxis = ramp, fastaxis, slowaxis
        self.path, self.header, self.n_reads = ramp.path, ramp.header, ramp.n_reads
        self.n_rows, self.n_cols = (ramp.n_rows, ramp.n_cols) if abs(fastaxis) == 1 else (ramp.n_cols, ramp.n_rows)
        self.n_integrations, self.integration = ramp.n_integrations, ramp.integration

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.read_reads(start, stop, 0, self.n_reads)

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        def fill(k: int, out: np.ndarray) -> None:
            out[...] = to_readout(self.ramp.read_reads(0, self.ramp.n_rows, k, k + 1)[0], self.fastaxis,
                                  self.slowaxis)[start:stop]

        return self._read_each(start, stop, first, end, fill)

    def read_source(self, read_index: int) -> str:
        return self.ramp.read_source(read_index)

    @property
    def axes(self) -> tuple[int, int]:
        return (self.fastaxis, self.slowaxis)

    def close(self) -> None:
        self.ramp.close()


def open_ramp(
    path: str | os.PathLike,
    *,
    hdu: int | str | None = None,
    integration: int = 0,
    min_reads: int = 2,
) -> Ramp:
    """Open a ramp from a folder of per-read FITS files, a 3D cube or a 4D cube.

    Parameters
    ----------
    path : path-like
        Folder or FITS file.
    hdu : int or str, optional
        HDU index or name holding the data. By default the ``SCI`` extension
        if present, else the first HDU with data of the right dimension.
    integration : int
        Integration to read from a 4D cube.
    min_reads : int
        Fewest reads accepted.

    A file whose header states another orientation than the readout's (``FASTAXIS``, ``SLOWAXIS``: JWST's
    science orientation) is handed out in readout order (:class:`ReadoutOrderRamp`).

    Raises
    ------
    RampInputError
        If the path is missing, is not FITS, is truncated, has the wrong
        dimensions, mixes read shapes, has too few reads, or states axes that are not +-1 and +-2.
    """
    path = Path(path)
    if not path.exists():
        raise RampInputError(f"{path}: no such file or folder")
    ramp: Ramp = ReadFolderRamp(path, hdu=hdu) if path.is_dir() else FitsCubeRamp(path, hdu=hdu, integration=integration)
    if ramp.n_reads < min_reads:
        ramp.close()
        raise RampInputError(f"{path}: {ramp.n_reads} read(s), at least {min_reads} are needed to measure a flux")
    try:
        axes = axes_of(ramp.header, str(path))
    except RampInputError:
        ramp.close()
        raise
    return ramp if axes == READOUT_ORDER else ReadoutOrderRamp(ramp, *axes)


def natural_sort_key(name: str) -> list:
    """Sort key that compares digit runs as numbers: ``read_2`` before ``read_10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class ReadRange(Ramp):
    """Reads ``first:stop`` of another ramp (reads left out at the start or the end of a ramp).

    Read ``k`` of this ramp is read ``first + k`` of ``ramp``; its header is ``ramp``'s.
    """

    def __init__(self, ramp: Ramp, first: int, stop: int) -> None:
        if not 0 <= first < stop <= ramp.n_reads:
            raise ValueError(f"{ramp.path}: cannot take reads {first}:{stop} of {ramp.n_reads}")
        self.ramp = ramp
        self.first, self.stop = first, stop
        self.path = ramp.path
        self.header = ramp.header
        self.n_reads, self.n_rows, self.n_cols = stop - first, ramp.n_rows, ramp.n_cols

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.ramp.read_reads(start, stop, self.first, self.stop)

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        return self.ramp.read_reads(start, stop, self.first + first, self.first + end)

    def read_source(self, read_index: int) -> str:
        return self.ramp.read_source(self.first + read_index)

    @property
    def axes(self) -> tuple[int, int]:
        return self.ramp.axes


class CutRamp(Ramp):
    """Rows ``row:row + n_rows`` and columns ``column:column + n_cols`` of every read of a larger ramp (a
    full-frame dark ramp for a subarray); its header is ``ramp``'s."""

    def __init__(self, ramp: Ramp, row: int, column: int, n_rows: int, n_cols: int) -> None:
        if not (0 <= row and row + n_rows <= ramp.n_rows and 0 <= column and column + n_cols <= ramp.n_cols):
            raise ValueError(f"{ramp.path}: cannot cut {n_rows} x {n_cols} at ({row}, {column}) from "
                             f"{ramp.n_rows} x {ramp.n_cols}")
        self.ramp, self.row, self.column = ramp, row, column
        self.path, self.header, self.n_reads = ramp.path, ramp.header, ramp.n_reads
        self.n_rows, self.n_cols = n_rows, n_cols

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.read_reads(start, stop, 0, self.n_reads)

    def read_reads(self, start: int, stop: int, first: int, end: int) -> np.ndarray:
        self._check_rows(start, stop)
        reads = self.ramp.read_reads(self.row + start, self.row + stop, first, end)
        return np.ascontiguousarray(reads[..., self.column:self.column + self.n_cols])

    def read_source(self, read_index: int) -> str:
        return self.ramp.read_source(read_index)

    def close(self) -> None:
        self.ramp.close()


def FirstReads(ramp: Ramp, n_reads: int) -> ReadRange:  # noqa: N802 - reads like the class it was
    """The first ``n_reads`` reads of ``ramp`` (for noise-versus-reads curves)."""
    if not 1 <= n_reads <= ramp.n_reads:
        raise ValueError(f"{ramp.path}: cannot take {n_reads} of {ramp.n_reads} reads")
    return ReadRange(ramp, 0, n_reads)
