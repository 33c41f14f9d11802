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

Applied to a ramp, the correction is computed for every read, row and
channel from the reference pixels alone (:func:`sirs_correction`) and
subtracted from every pixel of that channel row (after read 0 is
subtracted), as :class:`~hxrg_denoiser.strips.StripStream` does for
``refcorr="sirs"``. A calibration holds only for the geometry (and row
count) it was fitted on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from tqdm.auto import tqdm

from hxrg_denoiser._version import __version__
from hxrg_denoiser.errors import GeometryError, RampInputError, one_line
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import Ramp, open_ramp
from hxrg_denoiser.io.safety import atomic_output

__all__ = [
    "ReferenceSeries",
    "SirsCalibration",
    "reference_series",
    "fit_sirs",
    "fit_sirs_files",
    "sirs_correction",
    "load_calibration",
]

RIDGE = 1e-3  # relative ridge of the frequency-domain least squares
# The fitted read means are used only if they leave this many times less variance than the levels (step 3).
DC_EVIDENCE = 10.0
CALIBRATION_VERSION = 2  # 1: side series not relative to the levels, frequency 0 pooled with 1, no fitted means
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
    band_rows: int = 128
) -> ReferenceSeries:
    """Read a ramp band by band and keep its reference series (and science row means when ``science``).

    ``gain``: electrons per unit, one value or a map of the whole image.
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
    version : str
        Package version that fitted it.
    """

    darks: tuple[str, ...] = ()
    reads: tuple[int, ...] = ()
    residual_fraction: float | None = None
    gain: float = 1.0
    mean_model: str = "levels"
    mean_evidence: float = 0.0
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
    record : CalibrationRecord, optional
        What it was fitted on and what the fit found (None for a calibration made by hand).
    """

    geometry: ReadoutGeometry
    levels: np.ndarray
    left: np.ndarray
    right: np.ndarray
    read_means: np.ndarray | None = None
    record: CalibrationRecord | None = None

    def check_geometry(self, geometry: ReadoutGeometry, source: str) -> None:
        """Refuse data whose geometry differs from the calibration's."""
        for name in ("n_rows", "n_cols", "n_channels", "butterfly", "ref_border", "ref_top_bottom"):
            want, got = getattr(self.geometry, name), getattr(geometry, name)
            if want != got:
                raise GeometryError(f"{source}: the calibration was fitted for {name} = {want}, the data have {got}")

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the calibration as FITS (no pickle): ``LEVELS``, ``LEFT``, ``RIGHT`` (real, imaginary)."""
        primary = fits.PrimaryHDU()
        primary.header["HXRGVER"] = (__version__, "hxrg-denoiser version")
        primary.header["CALTYPE"] = ("sirs", "reference correction calibrated on darks")
        primary.header["CALVER"] = (CALIBRATION_VERSION, "version of the calibration's model")
        primary.header["GEOMETRY"] = self.geometry.to_json()
        primary.header["META"] = json.dumps(dataclasses.asdict(self.record) if self.record else {}, sort_keys=True)
        hdus = [primary, fits.ImageHDU(self.levels, name="LEVELS"),
                fits.ImageHDU(np.stack([self.left.real, self.left.imag]), name="LEFT"),
                fits.ImageHDU(np.stack([self.right.real, self.right.imag]), name="RIGHT")]
        if self.read_means is not None:
            hdus.append(fits.ImageHDU(self.read_means, name="MEANS"))
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
            record = CalibrationRecord.from_dict(json.loads(header.get("META", "{}")))
    except (OSError, KeyError, ValueError, TypeError, GeometryError) as err:
        raise RampInputError(f"{path}: not a SIRS calibration ({one_line(err)})") from None
    if version != CALIBRATION_VERSION:
        raise RampInputError(f"{path}: a calibration of model version {version} (made by hxrg-denoiser {made_by}); "
                             f"this version reads version {CALIBRATION_VERSION}: run hxrg calibrate on the darks again "
                             "(and hxrg train --darks again for a model trained with it)")
    bins = geometry.n_rows + 1
    if (levels.shape != (geometry.n_channels, 4) or left.shape != (2, geometry.n_channels, bins)
            or right.shape != left.shape or (read_means is not None and read_means.shape != (geometry.n_channels, 3))):
        raise RampInputError(f"{path}: calibration arrays do not match its geometry {geometry.name!r}")
    return SirsCalibration(geometry, levels, left[0] + 1j * left[1], right[0] + 1j * right[1], read_means, record)


def _pooled_solve(normal: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve 2 x 2 complex normal equations per (channel, frequency), pooling neighbouring frequencies.

    ``normal``: (bins, 2, 2); ``rhs``: (channels, bins, 2). Bin ``j >= 1`` pools
    bins ``max(1, j - w) .. j + w`` with ``w = j // 8`` (at least 1): few
    frequencies at the bottom of the spectrum, where the weights change
    fastest. Bin 0 (the mean of the read) is solved on its own.
    """
    bins = normal.shape[0]
    cumulative_n = np.concatenate([np.zeros((1, 2, 2), complex), np.cumsum(normal, axis=0)])
    cumulative_r = np.concatenate([np.zeros((rhs.shape[0], 1, 2), complex), np.cumsum(rhs, axis=1)], axis=1)
    weights = np.zeros((rhs.shape[0], bins, 2), dtype=complex)
    for j in range(bins):
        w = max(1, j // 8)
        lo, hi = (0, 1) if j == 0 else (max(1, j - w), min(bins, j + w + 1))
        a = cumulative_n[hi] - cumulative_n[lo]
        a = a + RIDGE * np.trace(a).real / 2 * np.eye(2)
        weights[:, j] = np.linalg.solve(a[None], (cumulative_r[:, hi] - cumulative_r[:, lo])[..., None])[..., 0]
    return weights


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


def _fit_read_means(collected: list[ReferenceSeries], science: list[np.ndarray], base: list[np.ndarray],
                    levels: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Least-squares read means per channel (step 3) and how many times less variance they leave than ``base``.

    ``science``, ``base``, ``levels``: per dark, ``(n_reads, n_rows, n_channels)``; read 0 is left out.
    """
    design = np.concatenate([_read_mean_design(s, lv)[1:] for s, lv in zip(collected, levels)])
    target = np.concatenate([m.mean(axis=1)[1:] for m in science])
    base_residual = float(np.sum((target - np.concatenate([b.mean(axis=1)[1:] for b in base])) ** 2))
    coefficients = np.empty((design.shape[1], 3))
    residual = 0.0
    for c in range(design.shape[1]):
        a = design[:, c]
        normal = a.T @ a
        normal = normal + RIDGE * np.trace(normal) / 3 * np.eye(3)
        coefficients[c] = np.linalg.solve(normal, a.T @ target[:, c])
        residual += float(np.sum((target[:, c] - a @ coefficients[c]) ** 2))
    if residual == 0:  # noiseless darks: nothing says the levels mislead unless they leave something
        return coefficients, float("inf") if base_residual > 0 else 1.0
    return coefficients, base_residual / residual


def _side_prediction(left_series: np.ndarray, right_series: np.ndarray, left: np.ndarray, right: np.ndarray,
                     n_rows: int) -> np.ndarray:
    """What the side columns predict for every read, row and channel, shape ``(n_reads, n_rows, n_channels)``."""
    spectrum = (left[None] * _mirrored_spectrum(left_series)[:, None]
                + right[None] * _mirrored_spectrum(right_series)[:, None])  # reads, channels, bins
    return np.fft.irfft(spectrum, n=2 * n_rows, axis=-1)[..., :n_rows].transpose(0, 2, 1)


def _fit_sides(collected: list[ReferenceSeries], targets: list[np.ndarray], levels: list[np.ndarray],
               geometry: ReadoutGeometry, relative: bool) -> np.ndarray:
    """Side-column weights per channel and frequency, shape ``(n_channels, n_rows + 1, 2)``."""
    bins = geometry.n_rows + 1
    normal = np.zeros((bins, 2, 2), dtype=complex)
    rhs = np.zeros((geometry.n_channels, bins, 2), dtype=complex)
    for s, target, lv in zip(collected, targets, levels):
        left, right = _side_series(s, lv, relative)
        sides = np.stack([_mirrored_spectrum(left[1:]), _mirrored_spectrum(right[1:])], axis=-1)  # k, bins, 2
        target_f = _mirrored_spectrum(target[1:].transpose(0, 2, 1))  # k, channels, bins
        normal += np.einsum("kfi,kfj->fij", sides.conj(), sides)
        rhs += np.einsum("kfi,kcf->cfi", sides.conj(), target_f)
    return _pooled_solve(normal, rhs)


def fit_sirs(
    darks: Iterable[Ramp], geometry: ReadoutGeometry, *, gain: float = 1.0, progress: bool = False
) -> SirsCalibration:
    """Fit a SIRS-class reference correction on dark ramps of ``geometry`` (see the module description).

    The levels are the seed line (not fitted, see the module description);
    the side-column weights are fitted on what the levels leave.
    """
    collected, names = [], []
    darks = list(darks)
    for ramp in darks:  # every shape is checked before any work starts
        if (ramp.n_rows, ramp.n_cols) != geometry.shape:
            raise GeometryError(f"{ramp.path}: reads are {ramp.n_rows} x {ramp.n_cols}, geometry {geometry.name!r} "
                                f"is {geometry.n_rows} x {geometry.n_cols}; every dark must have the same shape")
    for ramp in tqdm(darks, desc="reading darks", unit="dark", disable=not progress, leave=False):
        collected.append(reference_series(ramp, geometry, gain=gain, science=True))
        source = Path(ramp.path)
        names.append(str(source.resolve()) if source.exists() else str(ramp.path))  # in-memory ramps: their name
    if not collected:
        raise RampInputError("no darks to calibrate on")
    science = [s.science for s in collected if s.science is not None]
    coefficients = np.tile(SEED_LEVELS, (geometry.n_channels, 1))
    levels = [_levels(s, geometry, coefficients) for s in collected]
    targets = [m - lv for m, lv in zip(science, levels)]
    weights = _fit_sides(collected, targets, levels, geometry, relative=True)
    fitted = SirsCalibration(geometry, coefficients, weights[..., 0], weights[..., 1])
    corrections = [sirs_correction(s, fitted) for s in collected]
    read_means, evidence = _fit_read_means(collected, science, corrections, levels)
    if evidence >= DC_EVIDENCE:  # the levels mislead: the side columns as they are, and the fitted read means
        weights = _fit_sides(collected, targets, levels, geometry, relative=False)
        fitted = SirsCalibration(geometry, coefficients, weights[..., 0], weights[..., 1], read_means)
        corrections = [sirs_correction(s, fitted) for s in collected]
    before = sum(float(np.sum(m[1:] ** 2)) for m in science)
    after = sum(float(np.sum((m[1:] - c[1:]) ** 2)) for m, c in zip(science, corrections))
    record = CalibrationRecord(darks=tuple(names), reads=tuple(int(s.left.shape[0]) for s in collected),
                               residual_fraction=after / before if before > 0 else None, gain=gain,
                               mean_model="fitted" if fitted.read_means is not None else "levels",
                               mean_evidence=evidence)
    return dataclasses.replace(fitted, record=record)


def fit_sirs_files(
    paths: list[str], geometry_of: Callable[[tuple[int, int], str], ReadoutGeometry], *, gain: float = 1.0,
    progress: bool = False,
) -> SirsCalibration:
    """:func:`fit_sirs` on dark ramps given as files or folders; ``geometry_of(shape, path)`` gives the geometry
    of the first one. Every ramp is closed afterwards."""
    ramps: list[Ramp] = []
    try:
        for path in paths:
            ramps.append(open_ramp(path))
        geometry = geometry_of((ramps[0].n_rows, ramps[0].n_cols), paths[0])
        return fit_sirs(ramps, geometry, gain=gain, progress=progress)
    finally:
        for ramp in ramps:
            ramp.close()


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
