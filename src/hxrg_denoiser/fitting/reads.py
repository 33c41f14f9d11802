"""Which reads of a ramp a fit uses, and what is subtracted from them first.

:func:`open_reads` turns a ramp and :class:`~hxrg_denoiser.fitting.options.FitOptions` into the reads
fitted: the range ``--first-read``/``--last-read`` ask for (``auto``: from the first read after the
start transient, :mod:`hxrg_denoiser.classical.start_transient`), with the ``--dark`` opened for exactly
those reads (:mod:`hxrg_denoiser.io.darks`), the ``--linearity`` correction (:mod:`hxrg_denoiser.io.linearity`),
and the stream of their corrected strips.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.classical.start_transient import (
    TransientProfile,
    first_settled_read,
    read_offset_scatter,
    transient_profile,
    unselected_dark,
)
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.fitting.read_noise import NoiseBand, noise_band, ramp_read_noise
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.darks import Dark, open_dark
from hxrg_denoiser.io.linearity import Linearity, open_linearity
from hxrg_denoiser.io.maps import read_pixel_map
from hxrg_denoiser.io.ramps import Ramp, ReadRange
from hxrg_denoiser.strips import StripStream

__all__ = ["FittedReads", "open_reads", "check_reads", "fit_stream", "uncorrected_read_offsets", "MIN_READS_AUTO"]

log = logging.getLogger(__name__)

MIN_READS_AUTO = 8  # fewer reads: --first-read auto uses them all (no line to measure a transient against)


@dataclass
class FittedReads:
    """The reads a fit uses and their stream.

    ``ramp`` is reads ``first:stop`` of the input, ``dark`` what is subtracted from them, ``linearity`` the
    non-linearity correction applied to them first, ``stream`` their
    corrected strips, ``band`` the fixed band of rows the read noise is measured on (None under 3 reads),
    ``noise`` the per-read ``(total, white)`` read noise (:func:`~hxrg_denoiser.fitting.read_noise.ramp_read_noise`)
    and ``profile`` each channel's dark level per read (None under 5 reads).
    """

    ramp: Ramp
    first: int
    stop: int
    auto: bool
    dark: Dark | None
    stream: StripStream
    band: NoiseBand | None
    noise: tuple[float, float]
    profile: TransientProfile | None
    linearity: Linearity | None = None

    def close(self) -> None:
        """Release the dark's and the linearity's files (the input ramp is its opener's)."""
        if self.dark is not None:
            self.dark.close()
        if self.linearity is not None:
            self.linearity.close()


def _range(ramp: Ramp, first: int, last: int | None) -> tuple[int, int]:
    stop = ramp.n_reads if last is None else last + 1
    if last is not None and last >= ramp.n_reads:
        raise UsageError(f"--last-read {last}: {ramp.path} has reads 0 to {ramp.n_reads - 1}")
    if stop - first < 2:
        raise UsageError(f"--first-read {first}: {ramp.path} has reads 0 to {ramp.n_reads - 1}; a flux needs "
                         f"two reads from it up to read {stop - 1}")
    return first, stop


def fit_stream(reads: Ramp, geometry: ReadoutGeometry, options: FitOptions, dark: Dark | None = None,
               linearity: Linearity | None = None, first: int = 0) -> StripStream:
    """The stream of corrected strips of ``reads`` (from read ``first`` of the ramp) that a fit with ``options``
    takes."""
    if options.method == "fowler" and options.fowler_n > reads.n_reads // 2:
        raise UsageError(
            f"{reads.path}: Fowler number {options.fowler_n} needs at least {2 * options.fowler_n} reads, "
            f"the ramp has {reads.n_reads}" + (" used" if isinstance(reads, ReadRange) else "")
        )
    shape = (reads.n_rows, reads.n_cols)
    return StripStream(
        reads,
        geometry,
        refcorr=options.refcorr,
        gain=options.electrons_per_unit(shape, reads.map_frame),
        strip_rows=options.strip_rows,
        saturation=None if options.saturation is None else read_pixel_map(options.saturation, shape, "--saturation",
                                                                          frame=reads.map_frame),
        flag_non_finite=options.flag_non_finite,
        calibration=options.sirs_calibration(),
        dark=dark,
        linearity=linearity,
        flagged_from=None if options.flagged_from is None else _flagged_from(options.flagged_from, shape, first),
        flagged_jumps=None if options.jump_flags is None else options.jump_flags.from_read(first),
    )


def _flagged_from(flagged: np.ndarray, shape: tuple[int, int], first: int) -> np.ndarray:
    """``FitOptions.flagged_from`` counted from read ``first``, checked against the image's ``shape``."""
    flagged = np.asarray(flagged)
    if flagged.shape != shape:
        raise UsageError(f"flagged_from is {' x '.join(map(str, flagged.shape))}, the data are {shape[0]} x {shape[1]}")
    return flagged.astype(np.int64) - first


def _selected(ramp: Ramp, first: int, stop: int) -> Ramp:
    return ramp if (first, stop) == (0, ramp.n_reads) else ReadRange(ramp, first, stop)


def check_reads(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions, group_time: float) -> None:
    """Refuse a read range or a dark that does not fit ``ramp`` (what :func:`open_reads` checks before any
    work), without reading the ramp."""
    first, stop = _range(ramp, 0 if options.first_read == "auto" else int(options.first_read), options.last_read)
    if options.dark is not None:
        open_dark(options.dark, _selected(ramp, first, stop), first, group_time).close()
    if options.linearity is not None:
        open_linearity(options.linearity, geometry.reference_mask, first, frame=ramp.map_frame).close()


def open_reads(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions, group_time: float) -> FittedReads:
    """The reads of ``ramp`` that ``options`` (resolved for ``geometry``) fit, with their dark and stream.

    With ``first_read="auto"`` the stream of reads ``0:stop`` measures the start transient on the dark
    science pixels of the read-noise band (:func:`~hxrg_denoiser.classical.start_transient.first_settled_read`);
    it is the fit's own stream where no read is left out, else the reads from the first settled one get theirs.

    Raises
    ------
    UsageError
        ``--first-read``/``--last-read`` outside the ramp, or leaving fewer than two reads.
    RampInputError
        A dark of another shape, with too few reads, or unreadable (:func:`~hxrg_denoiser.io.darks.open_dark`);
        a linearity file that does not fit (:func:`~hxrg_denoiser.io.linearity.open_linearity`).
    """
    auto = options.first_read == "auto"
    first, stop = _range(ramp, 0 if auto else int(options.first_read), options.last_read)
    fitted = _open(ramp, geometry, options, group_time, first, stop, auto)
    if not auto or fitted.profile is None or stop < MIN_READS_AUTO:
        return fitted  # too few reads to tell a transient from the line of the later ones
    settled = first_settled_read(fitted.profile, fitted.noise[1])
    log.info("%s: start transient (mean of channels, e-) %s; first read used %d", ramp.path,
             " ".join(f"{v:+.2f}" for v in fitted.profile.mean[: settled + 2]), settled)
    if settled == 0:
        return fitted
    fitted.close()
    return _open(ramp, geometry, options, group_time, settled, stop, auto)


def _open(ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions, group_time: float, first: int, stop: int,
          auto: bool) -> FittedReads:
    """Reads ``first:stop`` of ``ramp`` with their dark, stream, read-noise band, read noise and dark levels."""
    reads = _selected(ramp, first, stop)
    dark = open_dark(options.dark, reads, first, group_time) if options.dark is not None else None
    linearity = None
    try:
        if options.linearity is not None:
            linearity = open_linearity(options.linearity, geometry.reference_mask, first, frame=ramp.map_frame)
        stream = fit_stream(reads, geometry, options, dark, linearity, first)
        band = noise_band(stream) if reads.n_reads >= 3 else None
        noise = ramp_read_noise(stream, band)
        profile = transient_profile(band.electrons, unselected_dark(band.dark), geometry) \
            if band is not None and reads.n_reads >= 5 \
            else None
    except BaseException:
        if dark is not None:
            dark.close()
        if linearity is not None:
            linearity.close()
        raise
    return FittedReads(reads, first, stop, auto, dark, stream, band, noise, profile, linearity)


def uncorrected_read_offsets(reads: FittedReads, geometry: ReadoutGeometry, options: FitOptions) -> float | None:
    """:func:`~hxrg_denoiser.classical.start_transient.read_offset_scatter` of the reads a fit used, without the
    reference correction (on the same band of rows as the fit's own)."""
    if reads.ramp.n_reads < 5:
        return None
    plain = dataclasses.replace(options, refcorr="none", calibration=None)
    band = noise_band(fit_stream(reads.ramp, geometry, plain, reads.dark, reads.linearity, reads.first))
    scatter = read_offset_scatter(transient_profile(band.electrons, unselected_dark(band.dark), geometry))
    return scatter if np.isfinite(scatter) else None
