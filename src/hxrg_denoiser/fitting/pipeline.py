"""Full-frame classical flux images, streamed by row strips.

:func:`fit_ramp` turns a :class:`~hxrg_denoiser.io.ramps.Ramp` into a
:class:`~hxrg_denoiser.io.product.FluxImage` (``SCI``, ``ERR``, ``DQ``) with
CDS, Fowler or up-the-ramp fitting after an optional reference-pixel
correction: strips of reads (:mod:`hxrg_denoiser.strips`), the per-pixel fit
(:func:`~hxrg_denoiser.classical.ramp_fit.fit_strip`), the read noise
(:mod:`hxrg_denoiser.fitting.read_noise`), the error model
(:mod:`hxrg_denoiser.classical.error_model`) and the product.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.classical.cleaning import LIT_COVARIANCE_FRACTION as CLEAN_LIT_COVARIANCE_FRACTION
from hxrg_denoiser.classical.cleaning import LIT_READ_SCALE as CLEAN_LIT_READ_SCALE
from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.classical.correction_evidence import scene_share_of_cleaning, withheld
from hxrg_denoiser.classical.error_model import calibrated_errors, input_covariance, poisson_flux
from hxrg_denoiser.classical.kept_background import smooth_background
from hxrg_denoiser.classical.ramp_fit import fit_strip
from hxrg_denoiser.classical.start_transient import read_offset_scatter
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.fitting import half_ramp
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.fitting.read_noise import JumpNoise, jump_test_noise
from hxrg_denoiser.fitting.reads import open_reads, uncorrected_read_offsets
from hxrg_denoiser.fitting.reference_choice import CorrectionRows, checked_fit
from hxrg_denoiser.fitting.segments import ramp_segments
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.maps import read_pixel_map, reference_type
from hxrg_denoiser.io.product import FitRecord, FluxImage, Provenance, provenance_of
from hxrg_denoiser.io.ramps import ArrayRamp, Ramp
from hxrg_denoiser.io.timing import ReadTiming, read_timing
from hxrg_denoiser.strips import StripStream, loaded_ahead

__all__ = ["fit_ramp", "fit_ramp_rows", "flux_image", "join_rows", "RampRows", "RowsFit", "fit_cube", "ramp_timing",
           "uncorrected_image", "before_cleaning"]

log = logging.getLogger(__name__)
NO_JUMP_NOISE = JumpNoise(None, None)  # jumps tested against the whole read noise (or not at all)


def _given_read_noise(options: FitOptions, ramp: Ramp, dark_fraction: float = 0.0) -> float | np.ndarray | None:
    """The read noise the options give (a value, or a checked per-pixel map), None to estimate it; with the
    noise of a dark subtracted (``dark_fraction``: its variance as a fraction of one read's) added."""
    if options.read_noise is None:
        return None
    shape = (ramp.n_rows, ramp.n_cols)
    given = read_pixel_map(options.read_noise, shape, "--read-noise", positive=True, frame=ramp.map_frame)
    if reference_type(options.read_noise) == "READNOISE":
        given = _per_read_electrons(given, options, ramp, shape)
    factor = float(np.sqrt(1.0 + dark_fraction))
    return given * np.float32(factor) if isinstance(given, np.ndarray) else float(given) * factor


def _per_read_electrons(cds: float | np.ndarray, options: FitOptions, ramp: Ramp, shape: tuple[int, int]):
    """A JWST READNOISE reference (the noise of a difference of two groups, DN) as the noise of one group in
    electrons: times the gain, over sqrt(2 NFRAMES) (stcal's conversion)."""
    if options.gain is None:
        raise UsageError(f"--read-noise {options.read_noise}: a JWST READNOISE reference is the CDS noise in DN; "
                         "give --gain (its GAIN reference) to turn it into per-read electrons")
    n_frames = ramp.header.get("NFRAMES", 1)
    n_frames = int(n_frames) if isinstance(n_frames, (int, np.integer)) and n_frames > 0 else 1
    per_read = options.electrons_per_unit(shape, ramp.map_frame) / np.sqrt(2.0 * n_frames)
    log.info("--read-noise %s: JWST READNOISE (CDS, DN) x gain / sqrt(2 x %d) per read", options.read_noise, n_frames)
    return (cds * per_read).astype(np.float32) if isinstance(per_read, np.ndarray) or isinstance(cds, np.ndarray) \
        else float(cds * per_read)


def ramp_timing(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> ReadTiming:
    """The time between reads of ``ramp`` as ``options`` say to read it (header, given, or the geometry's)."""
    return read_timing(ramp.header, geometry, ramp.path, frame_time=options.frame_time,
                       full_frame=options.full_frame_timing)


class RowsFit(NamedTuple):
    """Per-frame slopes of a block of rows with their variance terms, flags and reads used (before units);
    ``uncorrected``: where asked, the slopes without the reference correction (the same reads, jumps and
    weights: the slope plus that of the offsets the correction subtracted)."""

    slope: np.ndarray
    white: np.ndarray
    poisson: np.ndarray
    dq: np.ndarray
    reads_used: np.ndarray
    intercept: np.ndarray
    uncorrected: np.ndarray | None = None


def _fit_rows(
    stream: StripStream, options: FitOptions, read_noise: float | np.ndarray, start: int, stop: int,
    progress: bool = False,
    description: str | None = None,
    jump_noise: JumpNoise = NO_JUMP_NOISE,
    uncorrected: bool = False,
) -> RowsFit:
    """Slopes, variance terms, DQ and reads used of the strips that start in rows ``start:stop`` (strip-aligned).

    ``jump_noise``: the per-read noise jumps are tested against, each channel row's offsets removed from the
    read differences first (see :func:`~hxrg_denoiser.classical.jumps.detect_jumps`); None: the whole
    read noise, offsets left in. ``uncorrected``: also the slopes without the reference correction
    (``RowsFit.uncorrected``, None where the weights depend on the reads)."""
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
        bad = read_pixel_map(options.bad_pixels, geometry.shape, "--bad-pixels", frame=stream.ramp.map_frame)
        dq[np.asarray(bad)[first:last] != 0] |= np.uint32(PixelFlag.DO_NOT_USE)
    if stream.linearity is not None:
        dq[stream.linearity.uncorrected[first:last]] |= np.uint32(PixelFlag.NO_LIN_CORR)
    if options.pixel_flags is not None:
        dq |= np.asarray(options.pixel_flags, dtype=np.uint32)[first:last]
    # the plain slopes from the corrected fit's own (the offsets' fit added back) where the offsets are all of it
    plain = np.empty(shape, dtype=np.float32) \
        if uncorrected and options.weighting != "optimal" and stream.correction.offsets_complete else None
    stream.keep_offsets = plain is not None
    bar = tqdm(total=len(strips), desc=description or f"fit {options.label}", unit="strip", disable=not progress,
               leave=False)
    for data in loaded_ahead(stream, strips):
        strip = data.strip
        rows = slice(strip.start - first, strip.stop - first)
        # fitted with the rows beside the strip, so that a jump there can flag its neighbours here
        outer_start = strip.start - data.inner.start
        outer_rows = slice(outer_start, outer_start + data.outer.shape[1])
        noise = read_noise[outer_rows] if isinstance(read_noise, np.ndarray) else read_noise
        fit = fit_strip(data.outer, data.outer_first_saturated, options.estimator, options.jump_test, noise,
                        jump_noise.two_point, geometry.channel_width, jump_noise.step,
                        offsets=data.reference_offsets, flagged=data.outer_jumps).rows(data.inner)
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
        if plain is not None:
            plain[rows] = fit.slope if fit.offset_slope is None else fit.slope + fit.offset_slope
        del data, fit  # the strip read ahead is then the only other one in memory
        bar.update()
    bar.close()
    stream.keep_offsets = False
    return RowsFit(slope, white, poisson, dq, reads_used, intercept, plain)


def _finish(rows: RowsFit, geometry: ReadoutGeometry, options: FitOptions, read_noise: float | np.ndarray,
            timing: ReadTiming,
            n_reads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SCI, VAR_POISSON and VAR_RNOISE in output units from the assembled rows (the whole image)."""
    var_rnoise = (read_noise**2 * rows.white).astype(np.float32)
    var_poisson = (poisson_flux(rows.slope, np.sqrt(var_rnoise)) * rows.poisson).astype(np.float32)
    if options.ipc is not None:  # the share of its photon noise a pixel keeps of the charge its neighbours share
        var_poisson *= np.float32(options.ipc.photon_variance_scale)
    var_poisson[~np.isfinite(rows.slope)] = np.nan
    scale = np.float32(n_reads if options.units == "e-" else 1.0 / timing.group_time)
    sci = rows.slope * scale
    var_rnoise *= scale**2
    var_poisson *= scale**2
    return sci, var_poisson, var_rnoise


def _fitted_image(fitted: RampRows, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> FluxImage:
    """The :class:`FluxImage` of a whole fitted ramp: units, errors, cleaning, provenance."""
    rows, (total, white), timing, used = fitted
    del fitted
    given = _given_read_noise(options, ramp, used.dark_noise_fraction)
    # once the correlated noise is removed (--clean), the white part is what is left of the read noise
    read_noise = given if given is not None else (white if options.clean else total)
    dq, reads_used, intercept = rows.dq, rows.reads_used, rows.intercept
    sci, var_poisson, var_rnoise = _finish(rows, geometry, options, read_noise, timing, ramp.n_reads)
    del rows  # slopes and variance terms: no longer needed (a full frame: 200 MB)
    typical = float(np.median(read_noise)) if isinstance(read_noise, np.ndarray) else float(read_noise)
    provenance = provenance_of(ramp, geometry, options.label, units=options.units, gain=options.gain,
                               read_noise=typical, timing=timing, fit=used.recorded(options.record()),
                               read_noise_white=typical if given is not None else white)
    before = input_covariance(sci, var_poisson, var_rnoise, dq, geometry) \
        if options.clean and options.check_errors else None
    if options.clean:
        sci, provenance = _cleaned(sci, ramp, geometry, options, used, provenance)
    if options.check_errors:
        err, var_rnoise, errors = calibrated_errors(
            sci, var_poisson, var_rnoise, dq, geometry,
            lit_read_scale=CLEAN_LIT_READ_SCALE if options.clean else 1.0,
            lit_covariance_fraction=CLEAN_LIT_COVARIANCE_FRACTION if options.clean else 0.0, covariance_before=before,
            light_image=_light_image(sci, geometry, options))
    else:
        err, errors = np.sqrt(var_poisson + var_rnoise), None
    image = FluxImage(sci, err, dq, provenance, reads_used, var_poisson, var_rnoise, intercept, errors=errors)
    if half_ramp.applies(options, used.last - used.first + 1):  # where the dark pixels' scale is unusual
        image = half_ramp.checked_on_halves(image, lambda chosen: fit_ramp(ramp, geometry, chosen), options,
                                            used.first, used.last, geometry)
    return image


def _cleaned(sci: np.ndarray, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions, used,
             provenance: Provenance) -> tuple[np.ndarray, Provenance]:
    """``sci`` with its correlated noise removed; with ``keep_background``, the scene's smooth background and
    the share of the correction that accumulates like charge kept (both tested on the same segments of the
    ramp, fitted once)."""
    if not options.keep_background:
        return clean_flux_image(sci, geometry), provenance
    segments = functools.cache(lambda: ramp_segments(lambda chosen: fit_ramp(ramp, geometry, chosen), options,
                                                     used.first, used.last))
    kept = smooth_background(sci, geometry, segments=segments)
    cleaned = clean_flux_image(sci, geometry, background=kept.image)
    split = segments()
    share = scene_share_of_cleaning(sci, geometry, split, background=kept.image, corrected=cleaned) \
        if split is not None else None
    if share is not None:
        cleaned = withheld(sci, cleaned, share)
    if provenance.fit is not None:
        provenance = dataclasses.replace(provenance, fit=dataclasses.replace(
            provenance.fit, background_kept=kept.fraction, background_evidence=kept.evidence,
            background_rows_kept=kept.row_fraction, scene_share=share.mean if share is not None else None))
    return cleaned, provenance


def _light_image(sci: np.ndarray, geometry: ReadoutGeometry, options: FitOptions) -> np.ndarray | None:
    """Where an image keeps correlated noise that a reference correction and many reads would have taken
    out (CDS, Fowler, no reference correction), its light is found on a cleaned copy
    (:func:`~hxrg_denoiser.classical.cleaning.clean_flux_image`, about 10 s on a full frame): otherwise
    the faint wings of sources pass for dark pixels and ERR comes out too large. None: on ``sci`` itself."""
    if options.clean or (options.method == "utr" and options.reference_free):
        return None
    return clean_flux_image(sci, geometry)  # non-finite pixels take no part, and are never measured


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
    if options.reference_check:
        rows_of = CorrectionRows(lambda chosen, plain_too: fit_ramp_rows(
            ramp, geometry, chosen, progress=progress, description=description, uncorrected=plain_too))

        def fit(chosen: FitOptions) -> FluxImage:
            if options.clean:  # the rows make the image compared and the cleaned one
                return flux_image(rows_of(chosen), ramp, geometry, chosen)
            return _fitted_image(rows_of.pop(chosen), ramp, geometry, chosen)  # freed as the image is made

        return checked_fit(fit, dataclasses.replace(options, reference_check=False), geometry, True,
                           compare=before_cleaning if options.clean else None,
                           uncorrected=lambda chosen: uncorrected_image(rows_of(chosen), ramp, chosen))
    # passed on unbound, so that the fit's working arrays are freed as soon as the image no longer needs them
    return _fitted_image(fit_ramp_rows(ramp, geometry, options, progress=progress, description=description), ramp,
                         geometry, options)


class ReadsUsed(NamedTuple):
    """The reads a fit used (indices from 0) and the noise of the dark subtracted from them."""

    first: int
    last: int
    auto: bool
    dark_noise_fraction: float  # the dark's read noise variance as a fraction of one exposure's
    read_offsets: float | None = None  # see FitRecord.read_offsets
    uncorrected_read_offsets: float | None = None  # the same of the reads without the reference correction

    def recorded(self, record: FitRecord) -> FitRecord:
        """``record`` with the reads used."""
        return dataclasses.replace(record, first_read=self.first, last_read=self.last, first_read_auto=self.auto,
                                   read_offsets=self.read_offsets)


class RampRows(NamedTuple):
    """A ramp fitted strip by strip, before units, errors and cleaning (see :func:`fit_ramp_rows`)."""

    rows: RowsFit
    noise: tuple[float, float]
    timing: ReadTiming
    reads: ReadsUsed


def fit_ramp_rows(
    ramp: Ramp,
    geometry: ReadoutGeometry,
    options: FitOptions,
    *,
    rows: tuple[int, int] | None = None,
    progress: bool = False,
    description: str | None = None,
    uncorrected: bool = False,
) -> RampRows:
    """The first part of :func:`fit_ramp`: slopes, variance terms, flags and read noise of every pixel.

    ``uncorrected``: also what the reference check compares the fit with, the same fit without the reference
    correction (``RowsFit.uncorrected``: the same reads, jumps and weights) and its dark levels' read-to-read
    scatter (``ReadsUsed.uncorrected_read_offsets``), without a second fit.

    Its result is the same, bit for bit, for options that differ only in
    :data:`~hxrg_denoiser.fitting.options.FINISHING_OPTIONS` (the strip size, the cleaning and the error
    check come after it); :func:`flux_image` finishes it into the flux image of any of them.

    ``rows``: only the strips that start in rows ``start:stop`` (strip-aligned), for a ramp split into
    pieces fitted apart (:func:`~hxrg_denoiser.fitting.split.fit_file_split`); the read noise is measured on
    the same fixed band whatever the rows, so the pieces joined (:func:`join_rows`) equal the whole fit,
    bit for bit.
    """
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    options = options.resolved(geometry)
    timing = ramp_timing(ramp, geometry, options)  # a header with inconsistent timing is refused before any work
    reads = open_reads(ramp, geometry, options, timing.group_time)
    try:
        stream, band, noise = reads.stream, reads.band, reads.noise
        dark_fraction = 0.0 if reads.dark is None else reads.dark.noise_variance_fraction
        given = _given_read_noise(options, ramp, dark_fraction)
        read_noise = given if given is not None else noise[0]
        log.info("%s: reads %d to %d of %d, per-read noise %.3f (white %.3f)", ramp.path, reads.first,
                 reads.stop - 1, ramp.n_reads, noise[0], noise[1])
        jump_noise = jump_test_noise(stream, options, noise[0], band) if given is None else NO_JUMP_NOISE
        start, stop = rows if rows is not None else (0, geometry.n_rows)
        fitted = _fit_rows(stream, options, read_noise, start, stop, progress, description, jump_noise=jump_noise,
                           uncorrected=uncorrected)
        plain_offsets = uncorrected_read_offsets(reads, geometry, options) if uncorrected else None
    finally:
        reads.close()
    if options.saturation is None and options.flagged_from is None:
        plateaus = int(np.count_nonzero(fitted.dq & np.uint32(PixelFlag.SATURATED)))
        if plateaus:
            log.warning("%s: %d pixel(s) reach a plateau at the top of their ramp: taken as saturated from it on "
                        "(no --saturation given)", ramp.path, plateaus)
    offsets = None if reads.profile is None else read_offset_scatter(reads.profile)
    offsets = offsets if offsets is not None and np.isfinite(offsets) else None  # too few dark pixels anywhere
    return RampRows(fitted, noise, timing, ReadsUsed(reads.first, reads.stop - 1, reads.auto, dark_fraction,
                                                     offsets, plain_offsets))


def join_rows(pieces: list[RampRows]) -> RampRows:
    """The fits of consecutive pieces of a ramp (:func:`fit_ramp_rows` with ``rows``), as one."""
    rows = RowsFit(*(None if pieces[0].rows[i] is None else np.concatenate([piece.rows[i] for piece in pieces])
                     for i in range(len(RowsFit._fields))))  # type: ignore[arg-type]
    return RampRows(rows, pieces[0].noise, pieces[0].timing, pieces[0].reads)


def flux_image(fitted: RampRows, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> FluxImage:
    """The flux image of ``options`` from the rows :func:`fit_ramp_rows` fitted for ``ramp`` with options that
    differ from them at most in :data:`FINISHING_OPTIONS`; ``fitted`` is not changed (its flags are copied)."""
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    rows = fitted.rows._replace(dq=fitted.rows.dq.copy())
    return _fitted_image(fitted._replace(rows=rows), ramp, geometry, options.resolved(geometry))


def uncorrected_image(fitted: RampRows, ramp: Ramp, options: FitOptions) -> tuple[np.ndarray, float | None] | None:
    """What the reference check compares a corrected fit with, from the fit's own rows (fitted with
    ``uncorrected``): the image without the correction, in the units of ``options``, and its dark levels'
    read-to-read scatter; None where the rows do not hold it."""
    if fitted.rows.uncorrected is None:
        return None
    scale = np.float32(ramp.n_reads if options.units == "e-" else 1.0 / fitted.timing.group_time)
    return fitted.rows.uncorrected * scale, fitted.reads.uncorrected_read_offsets


def before_cleaning(options: FitOptions) -> FitOptions:
    """The options of the image the reference check compares: before cleaning, errors unchecked."""
    return dataclasses.replace(options, clean=False, keep_background=False, check_errors=False)


def fit_cube(cube: np.ndarray, geometry: ReadoutGeometry, options: FitOptions | None = None) -> FluxImage:
    """:func:`fit_ramp` on an in-memory cube of shape ``(n_reads, n_rows, n_cols)``."""
    return fit_ramp(ArrayRamp(cube), geometry, options)
