"""Reference-pixel corrections as strategy objects.

An option string (``none``, ``seed``, ``smoothed``, ``sirs``) becomes one of
these once, at the boundary (:func:`reference_correction`); the code that
streams a ramp holds the object and never compares names. Each correction is
:meth:`~ReferenceCorrection.prepared` on a ramp (what it measures over the
whole ramp before any strip: the channel levels of the top and bottom
reference rows, or a calibration's correction of every read and row) and then
:meth:`~ReferenceCorrection.apply`-ed to strips of reads. The numerics are
those of :mod:`hxrg_denoiser.classical.reference` and
:mod:`hxrg_denoiser.classical.sirs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.classical.reference import (
    REFERENCE_METHODS,
    ReferenceLevels,
    corrected_with_offsets,
    measure_reference_levels,
    side_window,
)
from hxrg_denoiser.classical.sirs import SirsCalibration, reference_series, sirs_correction
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import Ramp

__all__ = ["ReferenceCorrection", "NoCorrection", "PixelCorrection", "CalibratedCorrection", "reference_correction"]

# Electrons of image rows ``start:stop`` of every read of a ramp: ``(n_reads, stop - start, n_cols)``.
RowReader = Callable[[int, int], np.ndarray]


class ReferenceCorrection:
    """A reference-pixel correction (the interface; :class:`NoCorrection` leaves the reads as they are).

    Attributes
    ----------
    name : str
        As the options and the product's ``REFCORR`` name it.
    corrects : bool
        The reads are changed (every correction but ``none``).
    """

    name: str = ""
    corrects: bool = True

    @property
    def offsets_complete(self) -> bool:
        """What :meth:`apply_with_offsets` gives is all the correction subtracts (False where part of it
        differs from pixel to pixel within a channel row, as a frame template does)."""
        return True

    @property
    def window(self) -> tuple[int, int]:
        """Rows ``(before, after)`` around a row that its correction uses: a strip needs that halo."""
        return (0, 0)

    def prepared(self, ramp: Ramp, geometry: ReadoutGeometry, rows: RowReader,
                 gain: float | np.ndarray) -> ReferenceCorrection:
        """This correction with what it measures on the whole ``ramp`` (reads of rows through ``rows``)."""
        return self

    def apply(self, raw: np.ndarray, geometry: ReadoutGeometry, *, row_start: int, rows: slice) -> np.ndarray:
        """Correct a band of reads, electrons, shape ``(n_reads, band rows, n_cols)`` starting at image row
        ``row_start`` (in place); returns its rows ``rows``."""
        return self.apply_with_offsets(raw, geometry, row_start=row_start, rows=rows)[0]

    def apply_with_offsets(self, raw: np.ndarray, geometry: ReadoutGeometry, *, row_start: int,
                           rows: slice) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`apply`, and what it subtracted from each read beyond the pixel's read 0: one value per read,
        row of ``rows``, channel and parity of column, shape ``(n_reads, rows, n_channels, 2)`` (None where
        nothing is). The uncorrected reads, each less its read 0, are the corrected ones plus these offsets:
        a linear fit without the correction is the fit with it plus the same fit of the offsets."""
        raise NotImplementedError


class NoCorrection(ReferenceCorrection):
    """``none``: the reads as they are."""

    name = "none"
    corrects = False

    def apply_with_offsets(self, raw: np.ndarray, geometry: ReadoutGeometry, *, row_start: int,
                           rows: slice) -> tuple[np.ndarray, np.ndarray | None]:
        return raw[:, rows], None


@dataclass(frozen=True)
class PixelCorrection(ReferenceCorrection):
    """``seed`` or ``smoothed``: levels from the reference rows, a running common mode from the reference
    columns (:func:`~hxrg_denoiser.classical.reference.correct_reference_pixels`).

    Attributes
    ----------
    name : {"seed", "smoothed"}
    levels : ReferenceLevels, optional
        Measured on the ramp by :meth:`prepared` (None where the geometry has no reference rows).
    """

    name: str = "seed"
    levels: ReferenceLevels | None = None

    @property
    def window(self) -> tuple[int, int]:
        return side_window(self.name)

    def prepared(self, ramp: Ramp, geometry: ReadoutGeometry, rows: RowReader,
                 gain: float | np.ndarray) -> PixelCorrection:
        if not geometry.ref_top_bottom or geometry.ref_border == 0:
            return self
        b = geometry.ref_border
        bottom = rows(0, b)
        top = rows(geometry.n_rows - b, geometry.n_rows)
        bottom -= bottom[0].copy()
        top -= top[0].copy()
        return dataclasses.replace(self, levels=measure_reference_levels(bottom, top, geometry, self.name))

    def apply_with_offsets(self, raw: np.ndarray, geometry: ReadoutGeometry, *, row_start: int,
                           rows: slice) -> tuple[np.ndarray, np.ndarray | None]:
        return corrected_with_offsets(raw, geometry, self.name, row_start=row_start, levels=self.levels, core=rows)


@dataclass(frozen=True)
class CalibratedCorrection(ReferenceCorrection):
    """``sirs``: the detector's calibration (``hxrg calibrate``) predicts every read's correlated noise from
    its reference pixels (:mod:`hxrg_denoiser.classical.sirs`).

    Attributes
    ----------
    calibration : SirsCalibration
    table : ndarray, shape (n_reads, n_rows, n_channels), float32, optional
        The correction of every read, row and channel, computed by :meth:`prepared` in one pass over the ramp.
    parity : ndarray, shape (n_reads, n_channels), float32, optional
        The even/odd column offsets of every read and channel.
    amplitudes : ndarray, shape (n_reads,), optional
        The calibration's frame template's amplitude in every read (relative to read 0), where it has one:
        ``amplitude * template`` is subtracted from every pixel before the rest.
    """

    calibration: SirsCalibration
    table: np.ndarray | None = None
    parity: np.ndarray | None = None
    amplitudes: np.ndarray | None = None
    name: str = "sirs"

    @property
    def offsets_complete(self) -> bool:
        return self.calibration.frame is None

    def prepared(self, ramp: Ramp, geometry: ReadoutGeometry, rows: RowReader,
                 gain: float | np.ndarray) -> CalibratedCorrection:
        self.calibration.check_geometry(geometry, ramp.path)
        frame = self.calibration.frame
        amplitudes = None if frame is None else frame.amplitudes(rows, geometry, ramp.n_reads)
        series = reference_series(ramp, geometry, gain=gain,
                                  frame=None if frame is None or amplitudes is None else (frame, amplitudes))
        return dataclasses.replace(self, table=sirs_correction(series, self.calibration).astype(np.float32),
                                   parity=series.parity.astype(np.float32), amplitudes=amplitudes)

    def apply_with_offsets(self, raw: np.ndarray, geometry: ReadoutGeometry, *, row_start: int,
                           rows: slice) -> tuple[np.ndarray, np.ndarray | None]:
        if self.table is None:
            raise ValueError("the sirs correction is applied once prepared on the ramp")
        raw -= raw[0].copy()
        if self.calibration.frame is not None and self.amplitudes is not None:
            self.calibration.frame.subtract(raw, self.amplitudes, row_start)
        table = self.table[:, row_start : row_start + raw.shape[1]]  # reads, rows, channels
        by_channel = raw.reshape(raw.shape[0], raw.shape[1], geometry.n_channels, geometry.channel_width)
        by_channel -= table[..., None]
        offsets = np.repeat(table[:, rows, :, None], 2, axis=3)
        if geometry.channel_width % 2 == 0 and self.parity is not None:  # even and odd columns' samplers
            by_channel[..., 0::2] -= self.parity[:, None, :, None]
            by_channel[..., 1::2] += self.parity[:, None, :, None]
            offsets[..., 0] += self.parity[:, None, :]
            offsets[..., 1] -= self.parity[:, None, :]
        return raw[:, rows], offsets


def reference_correction(name: str | ReferenceCorrection,
                         calibration: SirsCalibration | None = None) -> ReferenceCorrection:
    """The correction an option names (an object given is returned as it is).

    Raises
    ------
    UsageError
        For an unknown name, ``sirs`` without a calibration, or a calibration with another correction.
    """
    if isinstance(name, ReferenceCorrection):
        return name
    if name not in REFERENCE_METHODS:
        raise UsageError(f"--refcorr {name!r}: choose one of {REFERENCE_METHODS}")
    if name != "sirs" and calibration is not None:
        raise UsageError(f"--calibration applies to --refcorr sirs, not {name!r}")
    if name == "sirs":
        if calibration is None:
            raise UsageError("--refcorr sirs needs --calibration FILE (made by hxrg calibrate)")
        return CalibratedCorrection(calibration)
    return NoCorrection() if name == "none" else PixelCorrection(name)
