"""A 3D FITS cube written band of rows by band of rows, atomically (memory bounded by one band)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.io.safety import atomic_output

__all__ = ["BandCubeWriter"]

BLOCK = 2880  # FITS records


class BandCubeWriter:
    """Write a float32 cube ``(n_planes, n_rows, n_cols)`` to ``path`` by bands of rows.

    Use as a context manager: the cube goes to a temporary file beside ``path``, renamed onto it when the
    block ends without error (:func:`~hxrg_denoiser.io.safety.atomic_output`); nothing is left otherwise.

    Parameters
    ----------
    path : path-like
    shape : (int, int, int)
    cards : dict
        Keywords of the primary header (``{KEY: (value, comment)}``).
    overwrite : bool
    inputs : paths the output may not touch
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int], cards: dict, *, overwrite: bool = False,
                 inputs=()) -> None:
        self.path, self.shape, self.cards = Path(path), tuple(shape), cards
        self._output = atomic_output(path, overwrite=overwrite, inputs=inputs)
        self._data: np.memmap | None = None

    def __enter__(self) -> BandCubeWriter:
        tmp = self._output.__enter__()
        header = fits.PrimaryHDU(np.zeros((1, 1, 1), dtype=">f4")).header
        header["NAXIS1"], header["NAXIS2"], header["NAXIS3"] = self.shape[2], self.shape[1], self.shape[0]
        for key, value in self.cards.items():
            header[key] = value
        text = header.tostring().encode("ascii")
        n_bytes = int(np.prod(self.shape)) * 4
        with open(tmp, "wb") as handle:
            handle.write(text)
            handle.truncate(len(text) + n_bytes + (-n_bytes) % BLOCK)
        self._data = np.memmap(tmp, dtype=">f4", mode="r+", offset=len(text), shape=self.shape)
        return self

    def write(self, start: int, band: np.ndarray) -> None:
        """Rows ``start:start + band.shape[1]`` of every plane."""
        assert self._data is not None
        self._data[:, start:start + band.shape[1]] = band

    def __exit__(self, *exc) -> None:
        if self._data is not None:
            self._data.flush()
            del self._data
            self._data = None
        self._output.__exit__(*exc)
