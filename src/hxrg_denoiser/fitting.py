"""Full-frame classical flux images, streamed by row strips.

:func:`fit_ramp` turns a :class:`~hxrg_denoiser.io.ramps.Ramp` into a
:class:`FluxImage` (``SCI``, ``ERR``, ``DQ``) with CDS, Fowler or up-the-ramp
fitting after an optional reference-pixel correction.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser._version import __version__
from hxrg_denoiser.classical.cleaning import LIT_COVARIANCE_FRACTION as CLEAN_LIT_COVARIANCE_FRACTION
from hxrg_denoiser.classical.cleaning import LIT_READ_SCALE as CLEAN_LIT_READ_SCALE
from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.classical.estimators import (
    cds_weights,
    dark_pixels,
    estimate_read_noise,
    estimate_white_read_noise,
    fowler_weights,
    noise_terms,
    ols_weights,
    optimal_utr_terms,
    weighted_read_sum,
)
from hxrg_denoiser.classical.jumps import (
    CLUSTER_THRESHOLD,
    DEFAULT_THRESHOLD,
    detect_jumps,
    remove_channel_row_offsets,
    segment_read_weights,
)
from hxrg_denoiser.classical.noise_correlation import near_light_correlation, read_noise_statistics
from hxrg_denoiser.classical.reference import REFERENCE_METHODS
from hxrg_denoiser.classical.sirs import SirsCalibration, load_calibration
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.maps import PixelMap, read_pixel_map
from hxrg_denoiser.io.ramps import ArrayRamp, Ramp
from hxrg_denoiser.io.timing import ReadTiming, data_unit, read_timing
from hxrg_denoiser.stats import robust_sigma
from hxrg_denoiser.strips import StripStream, loaded_ahead, row_ranges

__all__ = [
    "METHODS",
    "WEIGHTINGS",
    "UNITS",
    "FitOptions",
    "FluxImage",
    "fit_ramp",
    "fit_ramp_rows",
    "flux_image",
    "RampRows",
    "FINISHING_OPTIONS",
    "fit_cube",
    "fit_file_split",
    "fit_rows_of_file",
    "slope_and_variance",
    "slope_and_noise_terms",
    "ramp_read_noise",
    "jump_read_noise",
    "network_errors",
    "poisson_flux",
    "calibrated_errors",
    "input_covariance",
    "in_units",
]

log = logging.getLogger(__name__)

METHODS = ("cds", "fowler", "utr")
REFCORR_CHOICES = ("auto",) + REFERENCE_METHODS
WEIGHTINGS = ("ols", "optimal")
UNITS = ("e-", "e-/s")
_READ_NOISE_BAND = 32  # science rows used to estimate the read noise
JUMP_OFFSETS_GAIN = 0.95  # channel-row offsets are removed before the jump test where they lower its noise more


@dataclass(frozen=True)
class FitOptions:
    """How to build a flux image.

    Attributes
    ----------
    method : {"cds", "fowler", "utr"}
    refcorr : {"auto", "none", "seed", "smoothed", "sirs"}
        Reference-pixel correction (see :mod:`hxrg_denoiser.classical.reference`
        and, for ``sirs``, :mod:`hxrg_denoiser.classical.sirs`); ``auto`` (the
        default) is ``sirs`` when a calibration is given, else ``seed`` where
        the geometry has reference pixels and ``none`` where it has none.
    weighting : {"ols", "optimal"}
        Up-the-ramp weights: ordinary least squares, or optimal for read
        noise plus Poisson noise.
    fowler_n : int
        Reads averaged at each end for Fowler sampling.
    gain : float, path, ndarray or None
        Electrons per input unit (ADU): one value, or a per-pixel map of the image's shape (FITS file or
        array). None: the values are taken as they are, in electrons if the input's ``BUNIT`` says so and
        in DN otherwise (``BUNIT`` of the output says which).
    read_noise : float, path, ndarray or None
        Read noise per read in electrons, for ``ERR``, jump detection and
        optimal weights: one value, or a per-pixel map of the image's shape
        (FITS file or array); estimated from the data when None.
    units : {"e-", "e-/s"}
        ``SCI`` and ``ERR`` accumulated over the ramp (slope per read times ``n_reads``) or per second
        (slope per read over the time between reads); electrons, or DN when no gain is known.
    bad_pixels : path, ndarray or None
        A mask of the image's shape (FITS file or array), non-zero where a pixel is known to be bad: it is
        flagged ``DO_NOT_USE`` (its values are still computed).
    frame_time : float or None
        Seconds between reads, for ``units="e-/s"``; None: from the header (``TGROUP``, ``TFRAME`` with
        ``NFRAMES`` and ``GROUPGAP``, ``FRMTIME``), else the geometry's frame time
        (:func:`~hxrg_denoiser.io.timing.read_timing`).
    full_frame_timing : bool
        Without timing keywords, the reads are crops of full-frame reads of the geometry's preset.
    saturation : float, path, ndarray or None
        Input level (ADU) at and above which a read is saturated; later
        reads of that pixel are not used. One value, or a per-pixel map of the
        image's shape (a FITS file or an array).
    flag_non_finite : bool
        Flag science pixels holding NaN/inf instead of refusing the ramp.
    strip_rows : int
        Rows processed at a time; changes memory use, never the result.
    clean : bool
        Remove the correlated noise left in the flux image with
        :func:`~hxrg_denoiser.classical.cleaning.clean_flux_image` (alternating
        column noise, common mode and channel drifts estimated from dark pixels
        in readout order). ``ERR`` keeps the white + Poisson model.
    calibration : str, path or SirsCalibration, optional
        The detector's calibration (``hxrg calibrate``), for ``refcorr="sirs"``.
    jump_threshold : float or None
        With 3 reads or more: read differences more than this many sigmas from the pixel's flux per frame
        are jumps (cosmic rays; :mod:`hxrg_denoiser.classical.jumps`), flagged ``JUMP_DET``; up the ramp the
        slope is fitted on the segments between them, and CDS and Fowler, whose fixed reads then hold the
        jump in their difference, leave the pixel out (NaN, ``DO_NOT_USE``). None: no jump detection.
    jump_neighbours : bool
        Also flag the same read difference of the 4 neighbours of every jump.
    jump_cluster_threshold : float or None
        The 8 neighbours of every jump are flagged where the same difference exceeds their expectation by
        this many sigmas (one-sided: a cosmic ray's charge beside its centre). None: no such test.
    check_errors : bool
        Scale ``VAR_RNOISE`` to the spread of the image's dark pixels and measure the column correlation of
        its errors (:func:`calibrated_errors`); off for a fit that is only a model's input (the model's
        output is checked instead).
    """

    method: str = "utr"
    refcorr: str = "auto"
    weighting: str = "ols"
    fowler_n: int = 4
    gain: PixelMap | None = None
    read_noise: PixelMap | None = None
    units: str = "e-"
    saturation: PixelMap | None = None
    flag_non_finite: bool = False
    strip_rows: int = 128
    clean: bool = False
    calibration: str | os.PathLike | SirsCalibration | None = None
    jump_threshold: float | None = DEFAULT_THRESHOLD
    jump_neighbours: bool = False
    jump_cluster_threshold: float | None = CLUSTER_THRESHOLD
    frame_time: float | None = None
    full_frame_timing: bool = False
    bad_pixels: PixelMap | None = None
    check_errors: bool = True

    def __post_init__(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("refcorr", self.refcorr, REFCORR_CHOICES)
        _check_choice("weighting", self.weighting, WEIGHTINGS)
        _check_choice("units", self.units, UNITS)
        if self.weighting == "optimal" and self.method != "utr":
            raise UsageError("--weighting optimal applies to --method utr only")
        if self.fowler_n < 1:
            raise UsageError(f"--fowler must be >= 1, got {self.fowler_n}")
        if isinstance(self.gain, (int, float)) and not 0 < self.gain < np.inf:
            raise UsageError(f"--gain must be a finite number > 0, got {self.gain}")
        if self.frame_time is not None and not 0 < self.frame_time < np.inf:
            raise UsageError(f"--frame-time must be a finite number of seconds > 0, got {self.frame_time}")
        if self.frame_time is not None and self.full_frame_timing:
            raise UsageError("--frame-time and --full-frame-timing: give one of them")
        if isinstance(self.read_noise, (int, float)) and not 0 < self.read_noise < np.inf:
            raise UsageError(f"--read-noise must be a finite number > 0 electrons, got {self.read_noise}")
        if isinstance(self.saturation, (int, float)) and not np.isfinite(self.saturation):
            raise UsageError(f"--saturation must be a finite number or a FITS map, got {self.saturation}")
        if self.strip_rows < 1:
            raise UsageError(f"--strip-rows must be >= 1, got {self.strip_rows}")
        if self.jump_threshold is not None and not 0 < self.jump_threshold < np.inf:
            raise UsageError(f"--jump-threshold must be a finite number of sigmas > 0, got {self.jump_threshold}")
        if self.jump_cluster_threshold is not None and not 0 < self.jump_cluster_threshold < np.inf:
            raise UsageError("--jump-cluster-threshold must be a finite number of sigmas > 0, got "
                             f"{self.jump_cluster_threshold}")
        if self.calibration is not None and self.refcorr not in ("auto", "sirs"):
            raise UsageError(f"--calibration applies to --refcorr sirs, not {self.refcorr!r}")
        if self.refcorr == "sirs" and self.calibration is None:
            raise UsageError("--refcorr sirs needs --calibration FILE (made by hxrg calibrate)")

    def resolved(self, geometry: ReadoutGeometry) -> FitOptions:
        """These options with ``refcorr="auto"`` replaced by what it means for ``geometry``."""
        if self.refcorr != "auto":
            return self
        if self.calibration is not None:
            return dataclasses.replace(self, refcorr="sirs")
        return dataclasses.replace(self, refcorr="seed" if geometry.ref_border > 0 else "none")

    def electrons_per_unit(self, shape: tuple[int, int]) -> float | np.ndarray:
        """The gain for data of ``shape``: 1 when none was given (values taken as they are), a value or a map."""
        return 1.0 if self.gain is None else read_pixel_map(self.gain, shape, "--gain", positive=True)

    def sirs_calibration(self) -> SirsCalibration | None:
        """The calibration object (read from its file when a path was given)."""
        if self.calibration is None or isinstance(self.calibration, SirsCalibration):
            return self.calibration
        return load_calibration(self.calibration)

    @property
    def label(self) -> str:
        """Short method name, e.g. ``utr_ref_seed``."""
        name = {"fowler": f"fowler{self.fowler_n}", "utr": "utr" if self.weighting == "ols" else "utr_optimal"}
        base = name.get(self.method, self.method)
        label = base if self.refcorr == "none" else f"{base}_ref_{self.refcorr}"
        return f"{label}_clean" if self.clean else label


class FluxImage(NamedTuple):
    """A flux image with its uncertainty and quality flags.

    Attributes
    ----------
    sci : ndarray, shape (n_rows, n_cols), float32
        Flux in ``meta["units"]``.
    err : ndarray, shape (n_rows, n_cols), float32
        1-sigma uncertainty, ``sqrt(var_poisson + var_rnoise)``.
    dq : ndarray, shape (n_rows, n_cols), uint32
        :class:`~hxrg_denoiser.dq.PixelFlag` bits.
    meta : dict
        Method, reads, geometry, units, gain, read noise, package version.
    reads_used : ndarray, shape (n_rows, n_cols), uint16, optional
        Reads that entered each pixel's fit (before saturation, in segments of 2 reads or more between jumps).
    var_poisson, var_rnoise : ndarray, shape (n_rows, n_cols), float32, optional
        The variance of SCI from the photon noise (of the flux of its 24 neighbours' quadratic surface, or the pixel's own
        flux less 2 sigma where that is larger: a noisy dark pixel does not inflate its own error) and
        from the read noise (per-read noise ``meta["read_noise"]``: white plus what correlated noise the
        estimate leaves; white only once the correlated noise is removed; then scaled by
        ``meta["read_noise_scale"]`` to the spread of the image's dark pixels, see
        :func:`calibrated_errors`), in ``meta["units"]`` squared.
    intercept : ndarray, shape (n_rows, n_cols), float32, optional
        The fitted level at the first read (electrons, or DN without a gain), from the reads of the first
        segment (before saturation and the first jump).
    """

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    meta: dict
    reads_used: np.ndarray | None = None
    var_poisson: np.ndarray | None = None
    var_rnoise: np.ndarray | None = None
    intercept: np.ndarray | None = None


def read_weights(method: str, n_reads: int, fowler_n: int = 4) -> np.ndarray:
    """Read weights of a linear estimator giving the slope per frame."""
    if method == "cds":
        return cds_weights(n_reads)
    if method == "fowler":
        return fowler_weights(n_reads, min(fowler_n, n_reads // 2))
    return ols_weights(n_reads)


def slope_and_noise_terms(electrons: np.ndarray, options: FitOptions,
                          read_noise: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope (electrons per frame) of every pixel of a cube and its variance terms ``W`` and ``P``.

    The slope's variance is ``read_noise^2 W + flux P`` for white read noise plus Poisson accumulation
    (:func:`~hxrg_denoiser.classical.estimators.linear_slope_variance`).

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, ...)
    options : FitOptions
    read_noise : float or ndarray
        Electrons per read (chooses the optimal weights), one value or one per pixel.

    Returns
    -------
    slope, white, poisson : ndarray, shape electrons.shape[1:], float32
    """
    n = electrons.shape[0]
    if options.weighting == "optimal":
        return optimal_utr_terms(electrons, read_noise)
    weights = read_weights(options.method, n, options.fowler_n)
    slope = weighted_read_sum(electrons, weights)
    white, poisson = noise_terms(weights)
    return slope, np.full(slope.shape, white, dtype=np.float32), np.full(slope.shape, poisson, dtype=np.float32)


def slope_and_variance(
    electrons: np.ndarray, options: FitOptions, read_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Slope (electrons per frame) and its variance (each pixel's own flux for the Poisson part).

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, ...)
    options : FitOptions
    read_noise : float
        Electrons per read.
    """
    slope, white, poisson = slope_and_noise_terms(electrons, options, read_noise)
    return slope, (read_noise**2 * white + np.maximum(slope, 0.0) * poisson).astype(np.float32)


@dataclass
class StripFit:
    """Slopes of a strip (electrons per frame), their variance terms ``W`` and ``P``, jumps and reads used."""

    slope: np.ndarray
    white: np.ndarray
    poisson: np.ndarray
    jumped: np.ndarray
    reads_used: np.ndarray
    intercept: np.ndarray

    def rows(self, rows: slice) -> StripFit:
        """The fit of some of the strip's rows."""
        return StripFit(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


def _intercept(reads: np.ndarray, slope: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Mean of ``R_k - slope k`` over reads ``first <= k < stop`` of each pixel (``reads``: (n_reads, pixels))."""
    k = np.arange(reads.shape[0], dtype=np.float64)[:, None]
    inside = (k >= first[None, :]) & (k < stop[None, :])
    count = np.maximum(inside.sum(axis=0), 1)
    return (np.where(inside, reads - slope[None, :] * k, 0.0).sum(axis=0) / count).astype(np.float32)


def _fit_strip(electrons: np.ndarray, first_saturated: np.ndarray, options: FitOptions,
               read_noise: float | np.ndarray, jump_noise: float | None = None,
               channel_width: int | None = None) -> StripFit:
    """Slopes and variance terms of a strip, using only the reads before saturation and, up the ramp, between jumps.

    Jumps are tested against ``jump_noise`` on read differences with each channel row's offsets removed
    (``channel_width``), or against ``read_noise`` with them left in (no ``jump_noise``)."""
    n = electrons.shape[0]
    slope, white, poisson = slope_and_noise_terms(electrons, options, read_noise)
    for n_usable in np.unique(first_saturated[first_saturated < n]):
        pixels = np.nonzero(first_saturated == n_usable)
        if n_usable < 2:
            slope[pixels] = white[pixels] = poisson[pixels] = np.nan
            continue
        noise = read_noise[pixels] if isinstance(read_noise, np.ndarray) else read_noise
        sub = slope_and_noise_terms(electrons[:n_usable][(slice(None),) + pixels], options, noise)
        slope[pixels], white[pixels], poisson[pixels] = sub
    used = np.minimum(first_saturated, n).astype(np.uint16)
    used[used < 2] = 0
    intercept = weighted_read_sum(electrons, np.full(n, 1.0 / n)) - slope * np.float32((n - 1) / 2)
    if (first_saturated < n).any():
        partial = np.nonzero(first_saturated < n)
        reads = electrons[(slice(None),) + partial].astype(np.float64)
        intercept[partial] = _intercept(reads, slope[partial], np.zeros(reads.shape[1]), first_saturated[partial])
    jumped = np.zeros(slope.shape, dtype=bool)
    if options.jump_threshold is not None and n >= 3:
        found = detect_jumps(electrons, first_saturated, slope, read_noise if jump_noise is None else jump_noise,
                             threshold=options.jump_threshold, neighbours=options.jump_neighbours,
                             cluster_threshold=options.jump_cluster_threshold,
                             channel_width=channel_width)
        if len(found) and options.method != "utr":
            # CDS and Fowler take fixed reads, and a jump between them is in their difference: no pair of
            # reads without it is left to them, so the pixel is excluded (the jump found on all the reads)
            for values in (slope, white, poisson):
                values.reshape(-1)[found.pixels] = np.nan
            used.reshape(-1)[found.pixels] = 0
            jumped.reshape(-1)[found.pixels] = True
        elif len(found):
            before = np.arange(n - 1)[:, None] < (first_saturated.reshape(-1)[found.pixels] - 1)[None, :]
            usable = before & ~found.jumps
            weights = segment_read_weights(usable)
            reads = electrons.reshape(n, -1)[:, found.pixels].astype(np.float64)
            fitted = np.sum(weights * reads, axis=0)
            fitted_white, fitted_poisson = noise_terms(weights)
            none_left = ~usable.any(axis=0)
            fitted[none_left] = fitted_white[none_left] = fitted_poisson[none_left] = np.nan
            starts = usable & np.vstack([np.ones((1, usable.shape[1]), dtype=bool), ~usable[:-1]])
            slope.reshape(-1)[found.pixels] = fitted
            white.reshape(-1)[found.pixels] = fitted_white
            poisson.reshape(-1)[found.pixels] = fitted_poisson
            used.reshape(-1)[found.pixels] = usable.sum(axis=0) + starts.sum(axis=0)
            jumped.reshape(-1)[found.pixels] = True
            # the first segment: from its first usable difference to the first unusable one after it
            begin = np.argmax(usable, axis=0)
            after = np.where(np.arange(n - 1)[:, None] >= begin[None, :], ~usable, False)
            end = np.where(after.any(axis=0), np.argmax(after, axis=0), n - 1)  # last read of the segment
            intercept.reshape(-1)[found.pixels] = _intercept(reads, np.nan_to_num(fitted), begin, end + 1)
    intercept[~np.isfinite(slope)] = np.nan
    return StripFit(slope, white, poisson, jumped, used, intercept)


def _read_noise_band(stream: StripStream) -> np.ndarray:
    """Electrons of a fixed band of science rows (whole channels), the same whatever rows are fitted."""
    g = stream.geometry
    start = g.science_rows.start
    stop = min(g.science_rows.stop, start + _READ_NOISE_BAND)
    return stream.load(stream.band(start, stop)).electrons


class _NoiseBand(NamedTuple):
    """The fixed band of science rows the read noise is measured on, and its dark pixels."""

    electrons: np.ndarray  # reads, rows, cols
    dark: np.ndarray  # rows, cols: dark science pixels


def _noise_band(stream: StripStream) -> _NoiseBand:
    g = stream.geometry
    band = _read_noise_band(stream)
    first_guess = max(estimate_read_noise(band[:, :, g.science_cols]), 1e-6)
    science_columns = np.zeros(g.n_cols, dtype=bool)
    science_columns[g.science_cols] = True
    # the scene's photon noise would bias every estimate up
    return _NoiseBand(band, dark_pixels(band, first_guess) & science_columns)


def ramp_read_noise(stream: StripStream, band: _NoiseBand | None = None) -> tuple[float, float]:
    """Per-read noise of a ramp's corrected reads (electrons): ``(total, white)``.

    ``total`` is everything the reads' second differences see on dark pixels, ``white`` the part
    uncorrelated from pixel to pixel (double differences in readout order); both from a fixed band of
    science rows, so the figure does not depend on which rows are processed (``band``: that band, when
    already loaded). With 2 reads, both from the reference pixels.
    """
    g = stream.geometry
    if stream.ramp.n_reads < 3:
        ref = stream.load(stream.band(0, g.n_rows)).electrons[:, g.reference_mask]
        noise = float(max(robust_sigma(ref[1] - ref[0]) / np.sqrt(2.0), 1e-6))
        return noise, noise
    electrons, dark = band or _noise_band(stream)
    science = dark[:, g.science_cols]
    lit_free = electrons[:, :, g.science_cols]
    lit_free = lit_free[:, science] if science.sum() >= 1000 else lit_free
    total = max(estimate_read_noise(lit_free), 1e-6)
    band_readout = dataclasses.replace(g, n_rows=electrons.shape[1], ref_border=0)  # science rows only: no border
    white = max(estimate_white_read_noise(electrons, band_readout, dark), 1e-6)
    return total, min(white, total)


def jump_read_noise(stream: StripStream, band: _NoiseBand | None = None) -> float:
    """Per-read noise that read differences keep once each channel row's offsets are removed (electrons).

    What jumps are tested against (:func:`~hxrg_denoiser.classical.jumps.detect_jumps` with a channel
    width): the differences of the band of :func:`ramp_read_noise`, less each pixel's mean difference
    (its flux), less the offsets of :func:`~hxrg_denoiser.classical.jumps.channel_row_offsets`, on dark
    science pixels, robust sigma over ``sqrt(2)`` (corrected for the mean removed). Between the white and
    the total read noise: the correlated noise that varies along a row is left in.
    """
    g = stream.geometry
    if stream.ramp.n_reads < 3 or g.channel_width % 2:  # no jump test, or no offsets removed (odd channels)
        return ramp_read_noise(stream, band)[0]
    electrons, dark = band or _noise_band(stream)
    differences = np.nan_to_num(np.diff(electrons.astype(np.float32), axis=0), nan=0.0, posinf=0.0, neginf=0.0)
    differences -= differences.mean(axis=0)
    m = differences.shape[0]
    limit = 4.0 * robust_sigma(differences[0][:, g.science_cols])
    for k in range(m):
        remove_channel_row_offsets(differences[k], g.channel_width, limit)
    pixels = dark
    if pixels.sum() < 1000:
        pixels = np.zeros_like(dark)
        pixels[:, g.science_cols] = True
    sample = differences[:, pixels].ravel()
    sample = sample[:: max(1, sample.size // 2_000_000)]  # plenty for one robust sigma
    noise = robust_sigma(sample) * np.sqrt(m / (m - 1)) / np.sqrt(2.0)
    return float(max(noise, 1e-6))


def network_errors(sci: np.ndarray, dq: np.ndarray, geometry: ReadoutGeometry, *, n_reads: int, label_reads: int,
                   white_read_noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """ERR, VAR_POISSON and VAR_RNOISE of a flux image that a network predicted from the reads.

    A network that takes the reads has no noise model of its own; its error is taken as that of the
    up-the-ramp fit of the same ``n_reads`` reads with the correlated noise removed (photon noise of the
    local flux, :func:`poisson_flux`, plus the white read noise), with the read-noise part then scaled
    to what the image's own dark pixels show (:func:`calibrated_errors`).

    Parameters
    ----------
    sci : ndarray, shape (n_rows, n_cols)
        The network's flux, electrons over ``label_reads`` frames (NaN where none).
    dq : ndarray, shape (n_rows, n_cols)
    geometry : ReadoutGeometry
    n_reads : int
        Reads the network took.
    label_reads : int
        Frames the flux is expressed over.
    white_read_noise : float
        Electrons per read (:func:`ramp_read_noise`).

    Returns
    -------
    err, var_poisson, var_rnoise : ndarray, shape (n_rows, n_cols), float32
        Electrons and electrons squared (NaN where ``sci`` is).
    meta : dict
        ``read_noise_white``, ``read_noise_scale`` and ``read_noise_correlation``.
    """
    white, poisson = noise_terms(ols_weights(n_reads))
    scale = np.float32(label_reads)
    var_rnoise = np.full(sci.shape, white_read_noise**2 * white * scale**2, dtype=np.float32)
    per_frame = sci / scale
    var_poisson = (poisson_flux(per_frame, np.sqrt(var_rnoise) / scale) * np.float32(poisson * scale**2)).astype(
        np.float32)
    missing = ~np.isfinite(sci)
    var_poisson[missing] = np.nan
    var_rnoise[missing] = np.nan
    err, var_rnoise, measured = calibrated_errors(sci, var_poisson, var_rnoise, dq, geometry)
    return err, var_poisson, var_rnoise, {"read_noise_white": float(white_read_noise), **measured}


def _stream(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> StripStream:
    if options.method == "fowler" and options.fowler_n > ramp.n_reads // 2:
        raise UsageError(
            f"{ramp.path}: Fowler number {options.fowler_n} needs at least {2 * options.fowler_n} reads, "
            f"the ramp has {ramp.n_reads}"
        )
    return StripStream(
        ramp,
        geometry,
        refcorr=options.refcorr,
        gain=options.electrons_per_unit((ramp.n_rows, ramp.n_cols)),
        strip_rows=options.strip_rows,
        saturation=None if options.saturation is None else read_pixel_map(
            options.saturation, (ramp.n_rows, ramp.n_cols), "--saturation"),
        flag_non_finite=options.flag_non_finite,
        calibration=options.sirs_calibration(),
    )


def _given_read_noise(options: FitOptions, ramp: Ramp) -> float | np.ndarray | None:
    """The read noise the options give (a value, or a checked per-pixel map), None to estimate it."""
    if options.read_noise is None:
        return None
    return read_pixel_map(options.read_noise, (ramp.n_rows, ramp.n_cols), "--read-noise", positive=True)


def _timing(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> ReadTiming:
    return read_timing(ramp.header, geometry, ramp.path, frame_time=options.frame_time,
                       full_frame=options.full_frame_timing)


class RowsFit(NamedTuple):
    """Per-frame slopes of a block of rows with their variance terms, flags and reads used (before units)."""

    slope: np.ndarray
    white: np.ndarray
    poisson: np.ndarray
    dq: np.ndarray
    reads_used: np.ndarray
    intercept: np.ndarray


def _fit_rows(
    stream: StripStream, options: FitOptions, read_noise: float | np.ndarray, start: int, stop: int,
    progress: bool = False,
    description: str | None = None,
    jump_noise: float | None = None,
) -> RowsFit:
    """Slopes, variance terms, DQ and reads used of the strips that start in rows ``start:stop`` (strip-aligned).

    ``jump_noise``: the per-read noise jumps are tested against, each channel row's offsets removed from the
    read differences first (see :func:`~hxrg_denoiser.classical.jumps.detect_jumps`); None: the whole
    read noise, offsets left in."""
    geometry, n_reads = stream.geometry, stream.ramp.n_reads
    strips = [s for s in stream.strips if start <= s.start < stop]
    first, last = strips[0].start, strips[-1].stop
    shape = (last - first, geometry.n_cols)
    slope, white, poisson = (np.empty(shape, dtype=np.float32) for _ in range(3))
    reads_used = np.empty(shape, dtype=np.uint16)
    intercept = np.empty(shape, dtype=np.float32)
    reference = geometry.reference_mask[first:last]
    dq = np.where(reference, np.uint32(PixelFlag.REFERENCE_PIXEL | PixelFlag.DO_NOT_USE), np.uint32(0)).astype(np.uint32)
    if options.bad_pixels is not None:
        bad = read_pixel_map(options.bad_pixels, geometry.shape, "--bad-pixels")
        dq[np.asarray(bad)[first:last] != 0] |= np.uint32(PixelFlag.DO_NOT_USE)
    bar = tqdm(total=len(strips), desc=description or f"fit {options.label}", unit="strip", disable=not progress,
               leave=False)
    for data in loaded_ahead(stream, strips):
        strip = data.strip
        rows = slice(strip.start - first, strip.stop - first)
        # fitted with the rows beside the strip, so that a jump there can flag its neighbours here
        outer_start = strip.start - data.inner.start
        outer_rows = slice(outer_start, outer_start + data.outer.shape[1])
        noise = read_noise[outer_rows] if isinstance(read_noise, np.ndarray) else read_noise
        fit = _fit_strip(data.outer, data.outer_first_saturated, options, noise, jump_noise,
                         geometry.channel_width if jump_noise is not None else None).rows(data.inner)
        flags = dq[rows]
        flags[data.first_saturated < n_reads] |= np.uint32(PixelFlag.SATURATED)
        flags[fit.jumped & ~data.non_finite] |= np.uint32(PixelFlag.JUMP_DET)
        flags[~np.isfinite(fit.slope)] |= np.uint32(PixelFlag.DO_NOT_USE)
        flags[data.non_finite] |= np.uint32(PixelFlag.NON_FINITE_INPUT | PixelFlag.DO_NOT_USE)
        for values in (fit.slope, fit.white, fit.poisson, fit.intercept):
            values[data.non_finite] = np.nan
        fit.reads_used[data.non_finite] = 0
        slope[rows], white[rows], poisson[rows], reads_used[rows] = fit.slope, fit.white, fit.poisson, fit.reads_used
        intercept[rows] = fit.intercept
        del data, fit  # the strip read ahead is then the only other one in memory
        bar.update()
    bar.close()
    return RowsFit(slope, white, poisson, dq, reads_used, intercept)


def _neighbour_quadratic_kernel() -> np.ndarray:
    """5 x 5 weights that give a pixel's value from a least-squares quadratic surface
    ``a + b x + c y + d x^2 + e y^2 + f x y`` fitted to its 24 neighbours (the pixel itself has weight 0)."""
    y, x = (offsets.ravel() for offsets in np.mgrid[-2:3, -2:3])
    neighbours = (x != 0) | (y != 0)
    x, y = x[neighbours], y[neighbours]
    basis = np.stack([np.ones_like(x), x, y, x**2, y**2, x * y], axis=1).astype(np.float64)
    kernel = np.zeros(25)
    kernel[neighbours] = np.linalg.pinv(basis)[0]
    return kernel.reshape(5, 5).astype(np.float32)


_NEIGHBOUR_QUADRATIC = _neighbour_quadratic_kernel()


def poisson_flux(slope: np.ndarray, white_sigma: np.ndarray) -> np.ndarray:
    """The flux (per frame) whose photon noise enters the error: a quadratic surface fitted to the 24
    neighbours of each pixel and read at the pixel, kept within 2 sigma of the pixel's own slope, >= 0.

    A pixel's own slope would make its error grow with its noise (a dark pixel read high gets a larger
    error than one read low, and normalised residuals shrink); the neighbours' fit has none of it. A plain
    5 x 5 mean would be less noisy, but it lowers the peak of anything narrower than the window (the centre
    of an echelle order of sigma 1.5 rows to 0.69 of its flux) and raises its wings, so that optimally
    extracted spectra, which weight the centre most, get errors too small; the quadratic keeps 0.96 of that
    peak. The +-2 sigma bound around the pixel's own slope keeps the error of a sharp bright peak (a star)
    and of a dark pixel beside a bright one.

    Parameters
    ----------
    slope : ndarray, shape (rows, cols)
        Electrons per frame (NaN where there is none).
    white_sigma : ndarray, shape (rows, cols)
        The slope's read-noise sigma.

    Returns
    -------
    ndarray, shape (rows, cols), float32
        Electrons per frame.
    """
    from scipy.ndimage import correlate

    # in place, one full-size array at a time besides the result (a full frame: 67 MB each)
    finite = np.nan_to_num(slope.astype(np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    local = correlate(finite, _NEIGHBOUR_QUADRATIC, mode="nearest")
    margin = np.nan_to_num(np.asarray(white_sigma, dtype=np.float32), copy=True)
    margin *= 2.0
    lower = finite - margin
    np.maximum(local, lower, out=local)  # the lower bound, then the upper: np.clip's order
    del lower
    finite += margin
    np.minimum(local, finite, out=local)
    return np.maximum(local, 0.0, out=local)


def _finish(rows: RowsFit, geometry: ReadoutGeometry, options: FitOptions, read_noise: float | np.ndarray,
            timing: ReadTiming,
            n_reads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SCI, VAR_POISSON and VAR_RNOISE in output units from the assembled rows (the whole image)."""
    var_rnoise = (read_noise**2 * rows.white).astype(np.float32)
    var_poisson = (poisson_flux(rows.slope, np.sqrt(var_rnoise)) * rows.poisson).astype(np.float32)
    var_poisson[~np.isfinite(rows.slope)] = np.nan
    scale = np.float32(n_reads if options.units == "e-" else 1.0 / timing.group_time)
    sci = rows.slope * scale
    var_rnoise *= scale**2
    var_poisson *= scale**2
    return sci, var_poisson, var_rnoise


def _fitted_image(fitted: RampRows, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> FluxImage:
    """The :class:`FluxImage` of a whole fitted ramp: units, errors, cleaning, provenance."""
    rows, (total, white), timing = fitted
    del fitted
    given = _given_read_noise(options, ramp)
    # once the correlated noise is removed (--clean), the white part is what is left of the read noise
    read_noise = given if given is not None else (white if options.clean else total)
    dq, reads_used, intercept = rows.dq, rows.reads_used, rows.intercept
    sci, var_poisson, var_rnoise = _finish(rows, geometry, options, read_noise, timing, ramp.n_reads)
    del rows  # slopes and variance terms: no longer needed (a full frame: 200 MB)
    typical = float(np.median(read_noise)) if isinstance(read_noise, np.ndarray) else float(read_noise)
    meta = _meta(ramp, geometry, options, typical, timing)
    meta["read_noise_white"] = typical if given is not None else white
    before = input_covariance(sci, var_poisson, var_rnoise, dq, geometry) \
        if options.clean and options.check_errors else None
    sci = _cleaned(sci, geometry, options)
    if options.check_errors:
        err, var_rnoise, measured = calibrated_errors(
            sci, var_poisson, var_rnoise, dq, geometry,
            lit_read_scale=CLEAN_LIT_READ_SCALE if options.clean else 1.0,
            lit_covariance_fraction=CLEAN_LIT_COVARIANCE_FRACTION if options.clean else 0.0, covariance_before=before,
            light_image=_light_image(sci, geometry, options))
        meta.update(measured)
    else:
        err = np.sqrt(var_poisson + var_rnoise)
    return FluxImage(sci, err, dq, meta, reads_used, var_poisson, var_rnoise, intercept)


def _light_image(sci: np.ndarray, geometry: ReadoutGeometry, options: FitOptions) -> np.ndarray | None:
    """Where an image keeps correlated noise that a reference correction and many reads would have taken
    out (CDS, Fowler, no reference correction), its light is found on a cleaned copy
    (:func:`~hxrg_denoiser.classical.cleaning.clean_flux_image`, about 10 s on a full frame): otherwise
    the faint wings of sources pass for dark pixels and ERR comes out too large. None: on ``sci`` itself."""
    if options.clean or (options.method == "utr" and options.refcorr != "none"):
        return None
    return clean_flux_image(sci, geometry)  # non-finite pixels take no part, and are never measured


def input_covariance(sci: np.ndarray, var_poisson: np.ndarray | None, var_rnoise: np.ndarray, dq: np.ndarray,
                     geometry: ReadoutGeometry) -> list[float] | None:
    """Covariance of the read-noise errors of an image's dark pixels 1 .. 8 rows apart in a column, before a
    method removes its correlated noise (``covariance_before`` of :func:`calibrated_errors`); None where too
    few pixels are dark."""
    stats = read_noise_statistics(sci, var_rnoise, var_poisson, ~geometry.reference_mask & (dq == 0))
    return stats.covariance if stats is not None else None


def calibrated_errors(sci: np.ndarray, var_poisson: np.ndarray, var_rnoise: np.ndarray, dq: np.ndarray,
                      geometry: ReadoutGeometry, *, lit_read_scale: float = 1.0, lit_covariance_fraction: float = 0.0,
                      covariance_before: list[float] | None = None,
                      light_image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """ERR and VAR_RNOISE with the read-noise variance scaled to what the image's dark pixels show, and the
    column correlation of its errors.

    Parameters
    ----------
    sci, var_poisson, var_rnoise : ndarray, shape (n_rows, n_cols)
        Flux, predicted photon and read-noise variances (units and units squared).
    dq : ndarray, shape (n_rows, n_cols)
        Only pixels without flags are measured.
    geometry : ReadoutGeometry
    lit_read_scale : float
        Read-noise variance of the pixels near detected light over that of the dark pixels the scale is
        measured on, for a method that estimates the correlated noise from the image's dark pixels (each
        of which then enters its own estimate and loses some of its error, which lit pixels do not):
        measured for ``--clean`` and stored with flux-image models (``benchmarks/calibrate_lit_errors.py``).
        Applied only where the scale is measured.
    lit_covariance_fraction : float
        Fraction of the input's correlated read-noise covariance that such a method leaves in the pixels
        near light, correlated from row to row (where no dark pixel was read at the same time, the
        correlated noise is bridged from neighbouring readout times, and the bridge's error is shared by
        the rows it spans): measured as ``lit_read_scale`` is.
    covariance_before : list of float, optional
        Covariance of the read-noise errors of the input's dark pixels 1 .. 8 rows apart in a column
        (:attr:`~hxrg_denoiser.classical.noise_correlation.ReadNoiseStatistics.covariance` of the image
        before the correlated noise was removed; the units of ``sci``, squared).
    light_image : ndarray, shape (n_rows, n_cols), optional
        The same scene with less correlated noise, to find the light on (see
        :func:`~hxrg_denoiser.classical.noise_correlation.read_noise_statistics`).

    Returns
    -------
    err, var_rnoise : ndarray, shape (n_rows, n_cols), float32
    meta : dict
        ``read_noise_scale`` (applied; 1.0 where too few pixels are dark), ``read_noise_lit_scale``
        (applied) and ``read_noise_correlation`` (``rho(1 .. 8)`` or None), from
        :func:`~hxrg_denoiser.classical.noise_correlation.read_noise_statistics`; with a covariance
        fraction and the covariance before, ``read_noise_lit_correlation``: the correlation of the
        read-noise errors of pixels near light, ``rho(l) + fraction * covariance_before(l) / VAR_RNOISE``
        (the median ``VAR_RNOISE`` of those pixels), to propagate an extraction's error with.
    """
    usable = ~geometry.reference_mask & (dq == 0)
    stats = read_noise_statistics(sci, var_rnoise, var_poisson, usable, light_image=light_image)
    lit_scale = 1.0
    if stats is not None:
        var_rnoise = (var_rnoise * np.float32(stats.scale)).astype(np.float32)
        if lit_read_scale != 1.0:
            lit_scale = float(lit_read_scale)
            var_rnoise[~stats.dark] *= np.float32(lit_scale)
    err = np.sqrt(var_poisson + var_rnoise).astype(np.float32)
    meta = {"read_noise_scale": stats.scale if stats else 1.0, "read_noise_lit_scale": lit_scale,
            "read_noise_correlation": stats.rho if stats else None}
    near_light = usable & ~stats.dark & np.isfinite(var_rnoise) if stats is not None else None
    if lit_covariance_fraction > 0 and covariance_before and near_light is not None and near_light.any():
        meta["read_noise_lit_correlation"] = near_light_correlation(
            stats.rho, covariance_before, lit_covariance_fraction,  # type: ignore[union-attr]
            float(np.median(var_rnoise[near_light])))
    return err, var_rnoise, meta


def flux_meta(ramp: Ramp, geometry: ReadoutGeometry, method: str, *, units: str, gain: PixelMap | None,
              read_noise: float, timing: ReadTiming | None = None, **extra) -> dict:
    """Provenance of a :class:`FluxImage` (written to the FITS header).

    ``units`` says over the ramp (``"e-"``) or per second (``"e-/s"``); ``bunit`` is the unit of the values
    (DN when no gain is known and the input's BUNIT does not say electrons).
    """
    timing = timing or read_timing(ramp.header, geometry, ramp.path)
    unit = data_unit(ramp.header, gain is not None)
    return {
        "method": method,
        "n_reads": ramp.n_reads,
        "units": units,
        "bunit": unit if units == "e-" else f"{unit}/s",
        "gain": 1.0 if gain is None else gain if isinstance(gain, (int, float)) else
        f"map {os.path.basename(str(gain))}" if isinstance(gain, (str, os.PathLike)) else "map in memory",
        "read_noise": read_noise,
        "geometry": geometry.name,
        "geometry_json": geometry.to_json(),
        "frame_time": timing.group_time,
        "timing_source": timing.source,
        "input_header": ramp.header,
        "input": str(ramp.path),
        "version": __version__,
        **extra,
    }


def _meta(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions, read_noise: float, timing: ReadTiming) -> dict:
    settings = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
                if f.name not in ("calibration", "check_errors")}
    if options.calibration is not None:
        calibration = options.calibration
        settings["calibration"] = str(calibration) if not isinstance(calibration, SirsCalibration) else "in memory"
    for name in ("saturation", "gain", "bad_pixels", "read_noise"):
        value = settings[name]
        if isinstance(value, np.ndarray):
            settings[name] = "map in memory"
        elif isinstance(value, os.PathLike):
            settings[name] = str(value)
    return flux_meta(ramp, geometry, options.label, units=options.units, gain=options.gain, read_noise=read_noise,
                     timing=timing, options=settings)


def fit_ramp(
    ramp: Ramp,
    geometry: ReadoutGeometry,
    options: FitOptions | None = None,
    *,
    progress: bool = False,
    description: str | None = None,
) -> FluxImage:
    """Build a flux image from a ramp, one strip of rows at a time.

    Parameters
    ----------
    ramp : Ramp
        Any ramp reader (folder of reads, 3D or 4D cube, in-memory array).
    geometry : ReadoutGeometry
        Must match the read shape.
    options : FitOptions, optional
    progress : bool
        Show a tqdm bar over strips.
    description : str, optional
        Label of the bar (default ``fit METHOD``).

    Returns
    -------
    FluxImage
    """
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    options = (options or FitOptions()).resolved(geometry)
    # passed on unbound, so that the fit's working arrays are freed as soon as the image no longer needs them
    return _fitted_image(fit_ramp_rows(ramp, geometry, options, progress=progress, description=description), ramp,
                         geometry, options)


class RampRows(NamedTuple):
    """A ramp fitted strip by strip, before units, errors and cleaning (see :func:`fit_ramp_rows`)."""

    rows: RowsFit
    noise: tuple[float, float]
    timing: ReadTiming


# Options that do not change the per-pixel fit of :func:`fit_ramp_rows`: fits that differ only in them share it.
FINISHING_OPTIONS = ("clean", "check_errors", "strip_rows")


def fit_ramp_rows(
    ramp: Ramp,
    geometry: ReadoutGeometry,
    options: FitOptions,
    *,
    progress: bool = False,
    description: str | None = None,
) -> RampRows:
    """The first part of :func:`fit_ramp`: slopes, variance terms, flags and read noise of every pixel.

    Its result is the same, bit for bit, for options that differ only in
    :data:`FINISHING_OPTIONS` (the strip size, the cleaning and the error check
    come after it); :func:`flux_image` finishes it into the flux image of any of them.
    """
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    options = options.resolved(geometry)
    stream = _stream(ramp, geometry, options)
    timing = _timing(ramp, geometry, options)  # a header with inconsistent timing is refused before any work
    band = _noise_band(stream) if ramp.n_reads >= 3 else None
    noise = ramp_read_noise(stream, band)
    given = _given_read_noise(options, ramp)
    read_noise = given if given is not None else noise[0]
    log.info("%s: %d reads, per-read noise %.3f (white %.3f)", ramp.path, ramp.n_reads, noise[0], noise[1])
    jump_noise = _jump_noise(stream, options, noise[0], band) if given is None else None
    rows = _fit_rows(stream, options, read_noise, 0, geometry.n_rows, progress, description, jump_noise=jump_noise)
    return RampRows(rows, noise, timing)


def flux_image(fitted: RampRows, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> FluxImage:
    """The flux image of ``options`` from the rows :func:`fit_ramp_rows` fitted for ``ramp`` with options that
    differ from them at most in :data:`FINISHING_OPTIONS`; ``fitted`` is not changed (its flags are copied)."""
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    rows = fitted.rows._replace(dq=fitted.rows.dq.copy())
    return _fitted_image(fitted._replace(rows=rows), ramp, geometry, options.resolved(geometry))


def _jump_noise(stream: StripStream, options: FitOptions, total: float, band: _NoiseBand | None) -> float | None:
    """The per-read noise jumps are tested against once each channel row's offsets are removed from the read
    differences (:func:`jump_read_noise`), or None to test against the whole read noise with the offsets
    left in: where removing them would lower the noise by less than 5 % (little correlated noise left),
    the cost of removing them (a quarter to a third of a full-frame fit) buys nothing."""
    if options.jump_threshold is None or stream.ramp.n_reads < 3:
        return None
    jump = jump_read_noise(stream, band)
    removed = jump < JUMP_OFFSETS_GAIN * total
    log.info("%s: jumps tested against %.3f per read (%s)", stream.ramp.path, jump if removed else total,
             "channel-row offsets removed" if removed else "offsets left: they add under 5 % to the noise")
    return jump if removed else None


def _cleaned(sci: np.ndarray, geometry: ReadoutGeometry, options: FitOptions) -> np.ndarray:
    return clean_flux_image(sci, geometry) if options.clean else sci


def fit_rows_of_file(
    path: str, geometry: ReadoutGeometry, options: FitOptions, start: int, stop: int, open_args: dict
) -> tuple[RowsFit, tuple[float, float]]:
    """The fit of rows ``start:stop`` (strip-aligned) of the ramp at ``path``, and the read noise (total, white).

    The read noise is estimated from the same fixed band whatever the rows,
    so pieces computed apart assemble into the serial result, bit for bit.
    """
    from hxrg_denoiser.io.ramps import open_ramp

    with open_ramp(path, **open_args) as ramp:
        options = options.resolved(geometry)
        stream = _stream(ramp, geometry, options)
        band = _noise_band(stream) if ramp.n_reads >= 3 else None
        noise = ramp_read_noise(stream, band)
        given = _given_read_noise(options, ramp)
        return _fit_rows(stream, options, given if given is not None else noise[0], start, stop,
                         jump_noise=_jump_noise(stream, options, noise[0], band) if given is None else None), noise


def fit_file_split(
    path: str, geometry: ReadoutGeometry, options: FitOptions, client, parts: int, open_args: dict | None = None
) -> FluxImage:
    """:func:`fit_ramp` of one large file with its rows split into ``parts`` tasks on a Dask ``client``."""
    from hxrg_denoiser.io.ramps import open_ramp

    open_args = open_args or {}
    options = options.resolved(geometry)
    with open_ramp(path, **open_args) as ramp:
        timing = _timing(ramp, geometry, options)  # a header with inconsistent timing is refused before any work
    ranges = row_ranges(geometry.n_rows, parts, options.strip_rows)
    futures = [client.submit(fit_rows_of_file, path, geometry, options, a, b, open_args, pure=False) for a, b in ranges]
    pieces = client.gather(futures)
    rows = RowsFit(*(np.concatenate([piece[i] for piece, _ in pieces]) for i in range(len(RowsFit._fields))))
    with open_ramp(path, **open_args) as ramp:
        return _fitted_image(RampRows(rows, pieces[0][1], timing), ramp, geometry, options)


def in_units(image: FluxImage, units: str) -> FluxImage:
    """``image`` over the ramp (``"e-"``) or per second (``"e-/s"``), converted with its reads and TGROUP.

    SCI, ERR and the variances are scaled; DQ, reads used and the intercept (a level, not a flux) are not.
    """
    _check_choice("units", units, UNITS)
    meta = image.meta
    if units == meta["units"]:
        return image
    per_second = 1.0 / (meta["n_reads"] * float(meta["frame_time"]))
    scale = np.float32(per_second if units == "e-/s" else 1.0 / per_second)
    unit = meta.get("bunit", meta["units"]).split("/")[0]
    def times(values: np.ndarray | None, factor: np.float32) -> np.ndarray | None:
        return None if values is None else values * factor

    new_meta = {**meta, "units": units, "bunit": unit if units == "e-" else f"{unit}/s"}
    return image._replace(meta=new_meta, sci=image.sci * scale, err=image.err * scale,
                          var_poisson=times(image.var_poisson, scale**2), var_rnoise=times(image.var_rnoise, scale**2))


def fit_cube(cube: np.ndarray, geometry: ReadoutGeometry, options: FitOptions | None = None) -> FluxImage:
    """:func:`fit_ramp` on an in-memory cube of shape ``(n_reads, n_rows, n_cols)``."""
    return fit_ramp(ArrayRamp(cube), geometry, options)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"--{name} must be one of {choices}, got {value!r}")
