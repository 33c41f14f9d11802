"""The flux product: :class:`FluxImage` (SCI, ERR, DQ, variances, reads used, intercept) and its provenance."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from hxrg_denoiser._version import __version__
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.maps import PixelMap
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.io.timing import ReadTiming, data_unit, read_timing

__all__ = ["FluxImage", "Provenance", "FitRecord", "ErrorCalibration", "ModelRun", "ReferenceChoice", "provenance_of",
           "gain_text", "in_units", "UNITS"]

UNITS = ("e-", "e-/s")  # over the ramp, or per second


@dataclass(frozen=True)
class FitRecord:
    """How a classical fit was made, as the header records it.

    Attributes
    ----------
    method : {"cds", "fowler", "utr"}
    refcorr : str
        Reference correction applied (``auto`` resolved).
    weighting : {"ols", "optimal"}
    clean : bool
        Correlated noise left in the image removed.
    keep_background : bool
        And the scene's smooth background across the columns kept out of it.
    saturation : float, str or None
        Level (input units), a map's file name, ``"map in memory"``, or None (no check).
    read_noise : float, str or None
        Read noise given (a value, a map's file name, ``"map in memory"``), None: estimated.
    bad_pixels, calibration : str or None
        The bad-pixel mask and the reference calibration used (file names, or ``"in memory"``).
    jump_threshold, jump_cluster_threshold : float or None
    jump_neighbours, jump_step : bool
    jump_flags : int or None
        Read differences taken as jumps from the input's GROUPDQ (``JUMP_DET``), None: none asked for.
    dark : str or None
        The dark subtracted (file name).
    linearity : str or None
        The non-linearity correction applied (file name).
    ipc : str or None
        The interpixel-capacitance kernel ``VAR_POISSON`` accounts for (a coupling or a file name).
    ipc_photon_scale : float or None
        The share of the photon variance a pixel keeps under that kernel (``VAR_POISSON``'s factor).
    ipc_photon_correlation : tuple of float or None
        The correlation of the photon noise of adjacent pixels, along a row and along a column.
    first_read, last_read : int or None
        The reads used (indices from 0); None: not yet known (before the fit).
    first_read_auto : bool
        The first read was chosen where the start transient had settled.
    read_offsets : float or None
        How much the mean level of each channel's dark pixels moves from read to read about a straight
        line, after the reference correction (electrons; the offsets a correction should remove and a
        misleading one adds; :func:`~hxrg_denoiser.classical.start_transient.read_offset_scatter`).
    background_kept : float or None
        With ``keep_background``: the share of the smooth background found that was kept (0 where none was
        found; :class:`~hxrg_denoiser.classical.background.KeptBackground`).
    background_evidence : float or None
        Its power over the noise's, from segments of the ramp (None: not tested).
    background_rows_kept : float or None
        The share of the level along the rows (common to every column) that was kept.
    scene_share : float or None
        The mean share of the cleaning's correction given back as scene, tested on segments of the ramp
        (:func:`~hxrg_denoiser.classical.correction_evidence.scene_share`; None: not tested).
    """

    method: str
    refcorr: str
    weighting: str
    clean: bool
    saturation: float | str | None = None
    read_noise: float | str | None = None
    keep_background: bool = False
    bad_pixels: str | None = None
    calibration: str | None = None
    jump_threshold: float | None = None
    jump_neighbours: bool = False
    jump_cluster_threshold: float | None = None
    jump_step: bool = False
    jump_flags: int | None = None
    dark: str | None = None
    linearity: str | None = None
    ipc: str | None = None
    ipc_photon_scale: float | None = None
    ipc_photon_correlation: tuple[float, float] | None = None
    first_read: int | None = None
    last_read: int | None = None
    first_read_auto: bool = False
    read_offsets: float | None = None
    background_kept: float | None = None
    background_evidence: float | None = None
    background_rows_kept: float | None = None
    scene_share: float | None = None


@dataclass(frozen=True)
class Provenance:
    """Where a flux image comes from and what its values are.

    Attributes
    ----------
    method : str
        The estimator (``utr_ref_seed``...) or the model's name.
    n_reads : int
    units : {"e-", "e-/s"}
        Over the ramp or per second.
    bunit : str
        Unit of SCI: ``e-``, ``DN``, ``e-/s``, ``DN/s``.
    gain : float or str
        Electrons per input unit, or the map's description.
    read_noise : float
        Per-read noise in ``VAR_RNOISE`` (the count unit of ``bunit``).
    read_noise_white : float or None
        Its white part, where measured apart.
    geometry, geometry_json : str
        Readout geometry name and description.
    frame_time : float
        Seconds between reads (``TGROUP``), and ``timing_source`` where that comes from.
    timing_source : str
    input : str
        The input ramp's path.
    version : str
        Package version that made the image.
    input_header : astropy.io.fits.Header or None
        The input's header (its exposure keywords are carried to the output).
    fit : FitRecord or None
        The classical fit's settings, where the image is (or comes from) one.
    """

    method: str
    n_reads: int
    units: str
    bunit: str
    gain: float | str
    read_noise: float
    geometry: str
    geometry_json: str
    frame_time: float
    timing_source: str
    input: str
    version: str = __version__
    read_noise_white: float | None = None
    input_header: fits.Header | None = field(default=None, compare=False, repr=False)
    fit: FitRecord | None = None

    @property
    def white_read_noise(self) -> float:
        """The white part of the per-read noise (``read_noise_white``; ``read_noise`` where it was not told apart)."""
        return self.read_noise if self.read_noise_white is None else self.read_noise_white

    @property
    def count_unit(self) -> str:
        """``bunit`` without ``/s``: the unit of an accumulated count (``e-`` or ``DN``)."""
        return self.bunit.split("/")[0]

    def with_method(self, method: str, **changes) -> Provenance:
        """The same provenance for another method (a model applied to this image), with ``changes``."""
        return dataclasses.replace(self, method=method, **changes)


@dataclass(frozen=True)
class ErrorCalibration:
    """What the image's own dark pixels (or its ramp's halves) said of its read-noise errors, applied to ``VAR_RNOISE``.

    Attributes
    ----------
    read_noise_scale : float
        ``VAR_RNOISE`` scaled by it to the dark pixels' spread (1 where too few are dark).
    read_noise_lit_scale : float
        And by this near light (cleaning or a model).
    read_noise_correlation : tuple of float or None
        Correlation of the read-noise errors of pixels 1 .. 8 rows apart.
    read_noise_lit_correlation : tuple of float or None
        The same near light, for a method that removes correlated noise.
    read_noise_source : str
        What the scale and the correlation were measured on: ``"dark pixels"``, or ``"ramp halves"`` where
        the dark pixels held scene (:mod:`hxrg_denoiser.classical.half_ramp_errors`).
    """

    read_noise_scale: float = 1.0
    read_noise_lit_scale: float = 1.0
    read_noise_correlation: tuple[float, ...] | None = None
    read_noise_lit_correlation: tuple[float, ...] | None = None
    read_noise_source: str = "dark pixels"

    @property
    def measured(self) -> bool:
        """The scale was measured (on dark pixels or the ramp's halves), not left at 1 for want of pixels."""
        return self.read_noise_correlation is not None

    @property
    def aperture_correlation(self) -> tuple[float, ...] | None:
        """The correlation to propagate an extraction's error with: near light where measured, else the dark
        pixels'."""
        return self.read_noise_lit_correlation or self.read_noise_correlation


@dataclass(frozen=True)
class ModelRun:
    """The network that made the image.

    Attributes
    ----------
    model, architecture : str
    model_version : str
        Package version the model was trained with.
    label_reads : int
        SCI is electrons over this many frames.
    precision : {"fp32", "bf16"}
    layout : str or None
        The channel layout the model was measured on (``unmeasured`` where it was not).
    background_kept : float or None
        The share of the scene's smooth background across the columns that was taken out before the network
        and given back after (:func:`~hxrg_denoiser.classical.background.smooth_background`); None: not asked.
    background_evidence : float or None
        Its power over the noise's, from segments of the ramp (None: not tested).
    background_rows_kept : float or None
        The share of the level along the rows (common to every column) that was kept.
    scene_share : float or None
        The mean share of the network's correction given back as scene (tested on segments of the ramp with
        the cleaning; None: not tested).
    source, weights_sha256 : str or None
        The model as it was asked for (a shipped name or a path) and the SHA-256 of its weights (hex).
    """

    model: str
    architecture: str
    model_version: str
    label_reads: int
    precision: str
    layout: str | None = None
    background_kept: float | None = None
    background_evidence: float | None = None
    background_rows_kept: float | None = None
    scene_share: float | None = None
    source: str | None = None
    weights_sha256: str | None = None


@dataclass(frozen=True)
class ReferenceChoice:
    """The reference correction a model's input took, and the check that chose it.

    Attributes
    ----------
    refcorr_used : str
    note : str
        The dark-pixel row statistic of the corrected and the plain fit.
    """

    refcorr_used: str
    note: str


class FluxImage(NamedTuple):
    """A flux image with its uncertainty, quality flags and provenance.

    Attributes
    ----------
    sci : ndarray, shape (n_rows, n_cols), float32
        Flux in ``provenance.bunit``.
    err : ndarray, shape (n_rows, n_cols), float32
        1-sigma uncertainty, ``sqrt(var_poisson + var_rnoise)``.
    dq : ndarray, shape (n_rows, n_cols), uint32
        :class:`~hxrg_denoiser.dq.PixelFlag` bits.
    provenance : Provenance
        Method, reads, geometry, units, gain, read noise, package version, the fit's settings.
    reads_used : ndarray, shape (n_rows, n_cols), uint16, optional
        Reads that entered each pixel's fit (before saturation, in segments of 2 reads or more between jumps).
    var_poisson, var_rnoise : ndarray, shape (n_rows, n_cols), float32, optional
        The variance of SCI from the photon noise (of the flux of its 24 neighbours' quadratic surface, or the
        pixel's own flux less 2 sigma where that is larger: a noisy dark pixel does not inflate its own error)
        and from the read noise (per-read noise ``provenance.read_noise``: white plus what correlated noise
        the estimate leaves; white only once the correlated noise is removed; then scaled by
        ``errors.read_noise_scale`` to the spread of the image's dark pixels, see
        :func:`~hxrg_denoiser.classical.error_model.calibrated_errors`), in ``provenance.bunit`` squared.
    intercept : ndarray, shape (n_rows, n_cols), float32, optional
        The fitted level at the first read (electrons, or DN without a gain), from the reads of the first
        segment (before saturation and the first jump).
    errors : ErrorCalibration, optional
        The calibration of ``VAR_RNOISE`` on the image's dark pixels, where made.
    model : ModelRun, optional
        The network that made SCI, if one did.
    reference : ReferenceChoice, optional
        For a model's output: the reference correction its input took.
    """

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    provenance: Provenance
    reads_used: np.ndarray | None = None
    var_poisson: np.ndarray | None = None
    var_rnoise: np.ndarray | None = None
    intercept: np.ndarray | None = None
    errors: ErrorCalibration | None = None
    model: ModelRun | None = None
    reference: ReferenceChoice | None = None


def gain_text(gain: PixelMap | None) -> float | str:
    """The gain as the header records it: a value, ``map NAME`` or ``map in memory``."""
    if gain is None:
        return 1.0
    if isinstance(gain, (int, float)):
        return gain
    return f"map {os.path.basename(str(gain))}" if isinstance(gain, (str, os.PathLike)) else "map in memory"


def provenance_of(ramp: Ramp, geometry: ReadoutGeometry, method: str, *, units: str, gain: PixelMap | None,
                  read_noise: float, timing: ReadTiming | None = None, read_noise_white: float | None = None,
                  fit: FitRecord | None = None) -> Provenance:
    """The :class:`Provenance` of a flux image made from ``ramp``.

    ``units`` says over the ramp (``"e-"``) or per second (``"e-/s"``); ``bunit`` is the unit of the values
    (DN when no gain is known and the input's BUNIT does not say electrons).
    """
    timing = timing or read_timing(ramp.header, geometry, ramp.path)
    unit = data_unit(ramp.header, gain is not None)
    return Provenance(
        method=method, n_reads=ramp.n_reads, units=units, bunit=unit if units == "e-" else f"{unit}/s",
        gain=gain_text(gain), read_noise=read_noise, read_noise_white=read_noise_white, geometry=geometry.name,
        geometry_json=geometry.to_json(), frame_time=timing.group_time, timing_source=timing.source,
        input=str(ramp.path), input_header=ramp.header, fit=fit,
    )


def in_data_numbers(image: FluxImage, gain: float | np.ndarray) -> FluxImage:
    """``image`` in DN (or DN/s) from electrons: SCI and ERR divided by ``gain`` (e-/DN, a value or a map of the
    image's shape), the variances by its square; the variances keep the photon noise of the electrons, as a
    JWST rate does (the gain enters only its variances); the recorded read noise divided by the median gain.
    An image already in DN is returned as it is."""
    source = image.provenance
    if source.count_unit != "e-":
        return image
    g = np.asarray(gain, dtype=np.float32)

    def over(values: np.ndarray | None, factor: np.ndarray) -> np.ndarray | None:
        return None if values is None else (values / factor).astype(np.float32)

    bunit = source.bunit.replace("e-", "DN", 1)
    typical = float(np.median(g))  # the recorded read noise is one typical value
    white = None if source.read_noise_white is None else source.read_noise_white / typical
    provenance = dataclasses.replace(source, bunit=bunit, read_noise=source.read_noise / typical, read_noise_white=white)
    return image._replace(provenance=provenance, sci=(image.sci / g).astype(np.float32),
                          err=(image.err / g).astype(np.float32), var_poisson=over(image.var_poisson, g**2),
                          var_rnoise=over(image.var_rnoise, g**2))


def in_units(image: FluxImage, units: str) -> FluxImage:
    """``image`` over the ramp (``"e-"``) or per second (``"e-/s"``), converted with its reads and TGROUP.

    SCI, ERR and the variances are scaled; DQ, reads used and the intercept (a level, not a flux) are not.
    """
    if units not in UNITS:
        raise UsageError(f"--units must be one of {UNITS}, got {units!r}")
    source = image.provenance
    if units == source.units:
        return image
    per_second = 1.0 / (source.n_reads * float(source.frame_time))
    scale = np.float32(per_second if units == "e-/s" else 1.0 / per_second)
    unit = source.count_unit
    def times(values: np.ndarray | None, factor: np.float32) -> np.ndarray | None:
        return None if values is None else values * factor

    provenance = dataclasses.replace(source, units=units, bunit=unit if units == "e-" else f"{unit}/s")
    return image._replace(provenance=provenance, sci=image.sci * scale, err=image.err * scale,
                          var_poisson=times(image.var_poisson, scale**2), var_rnoise=times(image.var_rnoise, scale**2))
