"""Reference correction calibrated on the detector's own darks (SIRS class, Rauscher 2022).

The fixed recipes (``seed``, ``smoothed``) assume that reference pixels see
the correlated noise exactly as the science pixels do. Real detectors differ:
reference pixels may couple more or less strongly, have 1/f noise of their
own, or see a picture frame many times stronger than the interior. Here the
relation is *learned* by least squares on dark ramps, per output channel:

1. **Levels.** Each channel's level in each read is the line through the
   medians of its bottom and top reference rows (as in the ``seed``
   recipe), with the even and the odd columns apart (as in ``smoothed``:
   they are read by different samplers). These are not fitted: they give
   one pair of numbers per read, and fitted on a few darks they follow the
   darks' own slow noise (measured: worse than the fixed line on every
   bench-v2 family but one).
2. **Side reference columns, frequency by frequency.** What the levels leave
   in each channel's row means (science pixels, every read minus read 0) is
   fitted, in the Fourier domain along rows (each read's series mirrored so
   that its ends join), by complex weights on what the levels leave in the
   left and right reference-column series (each minus the level line of
   its own channel): at each frequency ``r_c(f) = a_c(f) L(f) + b_c(f) R(f)``,
   solved over all reads of all darks with neighbouring frequencies pooled
   (the mean of the read, frequency 0, on its own) and a small ridge. Where
   reference pixels do not follow the science pixels, the weights shrink;
   where they see a pattern the interior does not, it is not injected. The
   side series are taken relative to the levels so that a weight fitted
   for the slow variation within a read does not also multiply the read's
   whole drift (before, it did: image-wide offsets of 1-3 e- on bench-v2
   families where ``seed`` has a few tenths; README, "The sirs fix").
3. **The read's mean, when the levels mislead.** If the reference rows see
   something the interior does not (a picture frame many times stronger,
   say), the levels themselves inject it, and nothing in step 2 can take it
   out. So the calibration also fits, per channel, the mean of each read's
   science pixels on the level line's mean and the raw left and right
   column means by least squares, and uses that fit for each read's mean
   only when the darks say the levels are far off: when it leaves at least
   :data:`DC_EVIDENCE` times less variance than steps 1-2 do
   (``record.mean_model`` says which was chosen, ``record.mean_evidence``
   the ratio). The side weights are then fitted on the side series as they
   are, not relative to levels known to be wrong. On darks whose reference
   pixels follow the interior the ratio stays near 1 and the fit, which
   follows the darks' slow noise, is not used.

Applied to a ramp, the template (if any) times each read's amplitude is
subtracted from every pixel, then the correction is computed for every read,
row and channel from the reference pixels alone (:func:`sirs_correction`) and
subtracted from every pixel of that channel row (after read 0 is
subtracted), as :class:`~hxrg_denoiser.strips.StripStream` does for
``refcorr="sirs"``. A calibration holds only for the geometry (and row
count) it was fitted on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from hxrg_denoiser._version import __version__
from hxrg_denoiser.classical.frame_template import FrameTemplate
from hxrg_denoiser.errors import GeometryError, RampInputError, one_line
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.io.safety import atomic_output

__all__ = [
    "ReferenceSeries",
    "SirsCalibration",
    "reference_series",
    "sirs_correction",
    "load_calibration",
]

# The fitted read means are used only if they leave this many times less variance than the levels (step 3).
DC_EVIDENCE = 10.0
# A frame template is used only if, with it, the calibration leaves this many times less variance (step 4; held out).
FRAME_EVIDENCE = 1.5
# Versions of the calibration's model: 3 has a frame template (step 4); 2 has none (a calibration without one is
# written as 2, which earlier versions of the package read too); 1: side series not relative to the levels,
# frequency 0 pooled with 1, no fitted means.
CALIBRATION_VERSION = 3
READABLE_VERSIONS = (2, 3)
# The levels: the line of the seed recipe through the bottom and top medians (y from 0 to 1).
SEED_LEVELS = np.array([1.0, -1.0, 0.0, 1.0])


@dataclass
class ReferenceSeries:
    """What the reference pixels (and, for calibration, the science pixels) of a ramp say, read 0 subtracted.

    Attributes
    ----------
    left, right : ndarray, shape (n_reads, n_rows)
        Mean of the left and right reference columns of each row.
    bottom, top : ndarray, shape (n_reads, n_channels)
        Median of each channel's bottom and top reference rows.
    parity : ndarray, shape (n_reads, n_channels)
        Half the difference of the even-column and odd-column medians of the
        channel's top and bottom reference rows (the even/odd sampler offset).
    science : ndarray, shape (n_reads, n_rows, n_channels) or None
        Mean of each channel's science pixels in each row (darks only).
    """

    left: np.ndarray
    right: np.ndarray
    bottom: np.ndarray
    top: np.ndarray
    parity: np.ndarray
    science: np.ndarray | None = None


def _channel_science_mask(geometry: ReadoutGeometry) -> np.ndarray:
    """Science columns of each channel, shape ``(n_channels, channel_width)``."""
    columns = np.zeros(geometry.n_cols, dtype=bool)
    columns[geometry.science_cols] = True
    return columns.reshape(geometry.n_channels, geometry.channel_width)


def reference_series(
    ramp: Ramp, geometry: ReadoutGeometry, *, gain: float | np.ndarray = 1.0, science: bool = False,
    band_rows: int = 128, frame: tuple[FrameTemplate, np.ndarray] | None = None,
) -> ReferenceSeries:
    """Read a ramp band by band and keep its reference series (and science row means when ``science``).

    ``gain``: electrons per unit, one value or a map of the whole image. ``frame``: a template and its
    amplitude in each read (relative to read 0), subtracted first.
    """
    g = geometry
    if not g.ref_top_bottom or g.ref_border == 0:
        raise GeometryError(f"{ramp.path}: geometry {g.name!r} has no top and bottom reference rows for SIRS")
    n, b = ramp.n_reads, g.ref_border
    left, right = np.empty((n, g.n_rows)), np.empty((n, g.n_rows))
    channel_mask = _channel_science_mask(g)
    means = np.empty((n, g.n_rows, g.n_channels)) if science else None
    bottom = top = None
    rows_of_parity: list[np.ndarray] = []
    for start in range(0, g.n_rows, band_rows):
        stop = min(g.n_rows, start + band_rows)
        band = ramp.read_rows(start, stop).astype(np.float64) * (gain[start:stop] if isinstance(gain, np.ndarray)
                                                                 else gain)
        if not np.isfinite(band).all():
            k, y, x = np.argwhere(~np.isfinite(band))[0]
            raise RampInputError(f"{ramp.read_source(int(k))}: non-finite value at row {start + int(y)}, column {int(x)}")
        band -= band[:1]  # read 0
        if frame is not None:
            frame[0].subtract(band, frame[1], start)
        left[:, start:stop] = band[:, :, :b].mean(axis=-1)
        right[:, start:stop] = band[:, :, -b:].mean(axis=-1)
        by_channel = band.reshape(n, stop - start, g.n_channels, g.channel_width)
        if start == 0:
            bottom = np.median(by_channel[:, :b].transpose(0, 2, 1, 3).reshape(n, g.n_channels, -1), axis=-1)
            rows_of_parity.append(by_channel[:, :b])
        if stop == g.n_rows:
            top = np.median(by_channel[:, -b:].transpose(0, 2, 1, 3).reshape(n, g.n_channels, -1), axis=-1)
            rows_of_parity.append(by_channel[:, -b:])
        if means is not None:
            means[:, start:stop] = (by_channel * channel_mask).sum(axis=-1) / channel_mask.sum(axis=-1)
    assert bottom is not None and top is not None  # the first and the last band were read
    edges = np.concatenate(rows_of_parity, axis=1).transpose(0, 2, 1, 3)  # reads, channels, rows, width
    even = np.median(edges[..., 0::2].reshape(n, g.n_channels, -1), axis=-1)
    odd = np.median(edges[..., 1::2].reshape(n, g.n_channels, -1), axis=-1)
    return ReferenceSeries(left, right, bottom, top, 0.5 * (even - odd), means)


def _level_design(series: ReferenceSeries, geometry: ReadoutGeometry) -> np.ndarray:
    """Predictors of the levels, shape ``(n_reads, n_rows, n_channels, 4)``: B, B y, T, T y (y from 0 to 1)."""
    frac = (np.arange(geometry.n_rows) / max(1, geometry.n_rows - 1))[None, :, None]
    b, t = series.bottom[:, None, :], series.top[:, None, :]
    shape = (series.bottom.shape[0], geometry.n_rows, geometry.n_channels)
    return np.stack([np.broadcast_to(b, shape), b * frac, np.broadcast_to(t, shape), t * frac], axis=-1)


def _mirrored_spectrum(series: np.ndarray) -> np.ndarray:
    """rFFT along the last axis of each series joined to its mirror image (length ``2 n``)."""
    return np.fft.rfft(np.concatenate([series, series[..., ::-1]], axis=-1), axis=-1)


@dataclass(frozen=True)
class CalibrationRecord:
    """What a calibration was fitted on and what the fit found (written in the file's ``META`` card).

    Attributes
    ----------
    darks : tuple of str
        The darks' full paths (or names, for darks in memory).
    reads : tuple of int
        Reads of each dark.
    residual_fraction : float or None
        Channel row-mean variance of the darks' science pixels left by the correction, over that before.
    gain : float
        Electrons per unit of the darks.
    mean_model : {"levels", "fitted"}
        Each read's mean from the reference rows' levels, or from the fit of step 3 (the levels mislead).
    mean_evidence : float
        The variance the levels leave over that of the fit (the fit is used from :data:`DC_EVIDENCE`).
    frame_evidence : float
        The variance steps 1-3 leave over what they leave with the frame template, both learnt on the darks'
        even reads and tried on their odd reads (step 4; the template is used from :data:`FRAME_EVIDENCE`);
        0 where none was tried.
    frame_dominance : float
        How much more the template carries, on the darks' reference pixels, than the next pattern.
    version : str
        Package version that fitted it.
    """

    darks: tuple[str, ...] = ()
    reads: tuple[int, ...] = ()
    residual_fraction: float | None = None
    gain: float = 1.0
    mean_model: str = "levels"
    mean_evidence: float = 0.0
    frame_evidence: float = 0.0
    frame_dominance: float = 0.0
    version: str = __version__

    @classmethod
    def from_dict(cls, data: dict) -> CalibrationRecord | None:
        """The record of a file's ``META`` (None when it has none); unknown keys are ignored."""
        if not isinstance(data, dict) or not data:
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)


@dataclass
class SirsCalibration:
    """A fitted SIRS-class reference correction.

    Attributes
    ----------
    geometry : ReadoutGeometry
        The geometry (rows included) it was fitted on.
    levels : ndarray, shape (n_channels, 4)
        Coefficients of B, B y, T, T y for each channel.
    left, right : ndarray of complex, shape (n_channels, n_rows + 1)
        Weights of the side reference series at each frequency of the mirrored series: the series relative
        to the levels, or as they are where ``read_means`` is set.
    read_means : ndarray, shape (n_channels, 3), or None
        Where the levels mislead (step 3 of the module description): coefficients of the level line's
        mean and the left and right column means that give each read's mean; None: the levels' mean.
    frame : FrameTemplate, optional
        A fixed pattern subtracted, with its amplitude in each read, before the rest (step 4).
    record : CalibrationRecord, optional
        What it was fitted on and what the fit found (None for a calibration made by hand).
    """

    geometry: ReadoutGeometry
    levels: np.ndarray
    left: np.ndarray
    right: np.ndarray
    read_means: np.ndarray | None = None
    frame: FrameTemplate | None = None
    record: CalibrationRecord | None = None

    def check_geometry(self, geometry: ReadoutGeometry, source: str) -> None:
        """Refuse data whose geometry differs from the calibration's."""
        for name in ("n_rows", "n_cols", "n_channels", "butterfly", "ref_border", "ref_top_bottom"):
            want, got = getattr(self.geometry, name), getattr(geometry, name)
            if want != got:
                raise GeometryError(f"{source}: the calibration was fitted for {name} = {want}, the data have {got}")

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the calibration as FITS (no pickle): ``LEVELS``, ``LEFT``, ``RIGHT`` (real, imaginary), and
        ``MEANS`` and ``FRAME`` where it has them."""
        primary = fits.PrimaryHDU()
        primary.header["HXRGVER"] = (__version__, "hxrg-denoiser version")
        primary.header["CALTYPE"] = ("sirs", "reference correction calibrated on darks")
        version = CALIBRATION_VERSION if self.frame is not None else 2
        primary.header["CALVER"] = (version, "version of the calibration's model")
        primary.header["GEOMETRY"] = self.geometry.to_json()
        primary.header["META"] = json.dumps(dataclasses.asdict(self.record) if self.record else {}, sort_keys=True)
        hdus = [primary, fits.ImageHDU(self.levels, name="LEVELS"),
                fits.ImageHDU(np.stack([self.left.real, self.left.imag]), name="LEFT"),
                fits.ImageHDU(np.stack([self.right.real, self.right.imag]), name="RIGHT")]
        if self.read_means is not None:
            hdus.append(fits.ImageHDU(self.read_means, name="MEANS"))
        if self.frame is not None:
            hdus.append(fits.ImageHDU(self.frame.image, name="FRAME"))
        with atomic_output(path, overwrite=overwrite) as tmp:
            fits.HDUList(hdus).writeto(tmp)
        return Path(path)


def load_calibration(path: str | os.PathLike) -> SirsCalibration:
    """Read a calibration written by :meth:`SirsCalibration.save`.

    Raises
    ------
    RampInputError
        If the file is missing or is not such a calibration.
    """
    path = Path(path)
    if not path.is_file():
        raise RampInputError(f"{path}: no such calibration file")
    try:
        with fits.open(path) as hdul:
            header = hdul[0].header
            if header.get("CALTYPE") != "sirs":
                raise ValueError("no CALTYPE = 'sirs' in the primary header")
            version, made_by = header.get("CALVER", 1), header.get("HXRGVER", "?")
            geometry = ReadoutGeometry.from_dict(json.loads(header["GEOMETRY"]))
            levels = np.asarray(hdul["LEVELS"].data, dtype=np.float64)
            left, right = (np.asarray(hdul[name].data, dtype=np.float64) for name in ("LEFT", "RIGHT"))
            read_means = np.asarray(hdul["MEANS"].data, dtype=np.float64) if "MEANS" in hdul else None
            frame = np.asarray(hdul["FRAME"].data, dtype=np.float32) if "FRAME" in hdul else None
            record = CalibrationRecord.from_dict(json.loads(header.get("META", "{}")))
    except (OSError, KeyError, ValueError, TypeError, GeometryError) as err:
        raise RampInputError(f"{path}: not a SIRS calibration ({one_line(err)})") from None
    if version not in READABLE_VERSIONS:
        raise RampInputError(f"{path}: a calibration of model version {version} (made by hxrg-denoiser {made_by}); "
                             f"this version reads versions {' and '.join(map(str, READABLE_VERSIONS))}: run hxrg "
                             "calibrate on the darks again (and hxrg train --darks again for a model trained with it)")
    bins = geometry.n_rows + 1
    if (levels.shape != (geometry.n_channels, 4) or left.shape != (2, geometry.n_channels, bins)
            or right.shape != left.shape or (read_means is not None and read_means.shape != (geometry.n_channels, 3))
            or (frame is not None and frame.shape != geometry.shape)):
        raise RampInputError(f"{path}: calibration arrays do not match its geometry {geometry.name!r}")
    if frame is not None and not np.isfinite(frame).all():
        raise RampInputError(f"{path}: its FRAME template has non-finite values")
    return SirsCalibration(geometry, levels, left[0] + 1j * left[1], right[0] + 1j * right[1], read_means,
                           None if frame is None else FrameTemplate(frame), record)


def _levels(series: ReferenceSeries, geometry: ReadoutGeometry, coefficients: np.ndarray) -> np.ndarray:
    """The level of every read, row and channel, shape ``(n_reads, n_rows, n_channels)``."""
    return np.einsum("krcp,cp->krc", _level_design(series, geometry), coefficients)


def _side_series(series: ReferenceSeries, levels: np.ndarray, relative: bool) -> tuple[np.ndarray, np.ndarray]:
    """The left and right reference-column series, minus the levels of their own channels (the first and the
    last) when ``relative``."""
    if not relative:
        return series.left, series.right
    return series.left - levels[..., 0], series.right - levels[..., -1]


def _read_mean_design(series: ReferenceSeries, levels: np.ndarray) -> np.ndarray:
    """Predictors of each read's mean, shape ``(n_reads, n_channels, 3)``: the levels' mean, raw left and right."""
    level_mean = levels.mean(axis=1)
    sides = [np.broadcast_to(side.mean(axis=1)[:, None], level_mean.shape) for side in (series.left, series.right)]
    return np.stack([level_mean, *sides], axis=-1)


def _side_prediction(left_series: np.ndarray, right_series: np.ndarray, left: np.ndarray, right: np.ndarray,
                     n_rows: int) -> np.ndarray:
    """What the side columns predict for every read, row and channel, shape ``(n_reads, n_rows, n_channels)``."""
    spectrum = (left[None] * _mirrored_spectrum(left_series)[:, None]
                + right[None] * _mirrored_spectrum(right_series)[:, None])  # reads, channels, bins
    return np.fft.irfft(spectrum, n=2 * n_rows, axis=-1)[..., :n_rows].transpose(0, 2, 1)


def sirs_correction(series: ReferenceSeries, calibration: SirsCalibration) -> np.ndarray:
    """The correction of every read, row and channel, shape ``(n_reads, n_rows, n_channels)``, from reference pixels."""
    g = calibration.geometry
    levels = _levels(series, g, calibration.levels)
    left, right = _side_series(series, levels, relative=calibration.read_means is None)
    correction = levels + _side_prediction(left, right, calibration.left, calibration.right, series.left.shape[1])
    if calibration.read_means is not None:  # each read's mean from the fit of step 3
        means = np.einsum("kcp,cp->kc", _read_mean_design(series, levels), calibration.read_means)
        correction += (means - correction.mean(axis=1))[:, None, :]
    return correction
