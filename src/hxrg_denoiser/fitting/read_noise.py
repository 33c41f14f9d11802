"""The read noise of a ramp, measured on the stream of its reads (a fixed band of science rows)."""

from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

import numpy as np

from hxrg_denoiser.classical.channel_rows import remove_channel_row_offsets
from hxrg_denoiser.classical.estimators import dark_pixels, estimate_read_noise, estimate_white_read_noise
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.stats import robust_sigma
from hxrg_denoiser.strips import StripStream

__all__ = ["ramp_read_noise", "jump_read_noise", "jump_test_noise", "noise_band", "NoiseBand", "JumpNoise",
           "JUMP_OFFSETS_GAIN"]

log = logging.getLogger(__name__)

READ_NOISE_BAND = 32  # science rows used to estimate the read noise
JUMP_OFFSETS_GAIN = 0.95  # channel-row offsets are removed before the jump test where they lower its noise more


def _readnoise_band(stream: StripStream) -> np.ndarray:
    """Electrons of a fixed band of science rows (whole channels), the same whatever rows are fitted."""
    g = stream.geometry
    start = g.science_rows.start
    stop = min(g.science_rows.stop, start + READ_NOISE_BAND)
    return stream.load(stream.band(start, stop)).electrons


class NoiseBand(NamedTuple):
    """The fixed band of science rows the read noise is measured on, and its dark pixels."""

    electrons: np.ndarray  # reads, rows, cols
    dark: np.ndarray  # rows, cols: dark science pixels


def noise_band(stream: StripStream) -> NoiseBand:
    g = stream.geometry
    band = _readnoise_band(stream)
    first_guess = max(estimate_read_noise(band[:, :, g.science_cols]), 1e-6)
    science_columns = np.zeros(g.n_cols, dtype=bool)
    science_columns[g.science_cols] = True
    # the scene's photon noise would bias every estimate up
    return NoiseBand(band, dark_pixels(band, first_guess) & science_columns)


def ramp_read_noise(stream: StripStream, band: NoiseBand | None = None) -> tuple[float, float]:
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
    electrons, dark = band or noise_band(stream)
    science = dark[:, g.science_cols]
    lit_free = electrons[:, :, g.science_cols]
    lit_free = lit_free[:, science] if science.sum() >= 1000 else lit_free
    total = max(estimate_read_noise(lit_free), 1e-6)
    band_readout = dataclasses.replace(g, n_rows=electrons.shape[1], ref_border=0)  # science rows only: no border
    white = max(estimate_white_read_noise(electrons, band_readout, dark), 1e-6)
    return total, min(white, total)


def jump_read_noise(stream: StripStream, band: NoiseBand | None = None) -> float:
    """Per-read noise that read differences keep once each channel row's offsets are removed (electrons).

    What jumps are tested against (:func:`~hxrg_denoiser.classical.jumps.detect_jumps` with a channel
    width): the differences of the band of :func:`ramp_read_noise`, less each pixel's mean difference
    (its flux), less the offsets of :func:`~hxrg_denoiser.classical.channel_rows.channel_row_offsets`, on dark
    science pixels, robust sigma over ``sqrt(2)`` (corrected for the mean removed). Between the white and
    the total read noise: the correlated noise that varies along a row is left in.
    """
    g = stream.geometry
    if stream.ramp.n_reads < 3 or g.channel_width % 2:  # no jump test, or no offsets removed (odd channels)
        return ramp_read_noise(stream, band)[0]
    electrons, dark = band or noise_band(stream)
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


class JumpNoise(NamedTuple):
    """The per-read noise of the two jump tests (electrons).

    ``two_point``: what the two-point test is tested against once each channel row's offsets are removed
    from the read differences, or None to test against the whole read noise with the offsets left in;
    ``step``: what the step test (:mod:`hxrg_denoiser.classical.step_test`), which always removes them,
    is tested against (None: no step test)."""

    two_point: float | None
    step: float | None


def jump_test_noise(stream: StripStream, options: FitOptions, total: float, band: NoiseBand | None) -> JumpNoise:
    """The per-read noise of the jump tests once each channel row's offsets are removed from the read
    differences (:func:`jump_read_noise`). The two-point test removes them only where that lowers the
    noise by 5 % or more (their removal costs it a quarter to a third of a full-frame fit); the step test,
    for which they are one matrix product per read, always."""
    if options.jump_threshold is None or stream.ramp.n_reads < 3:
        return JumpNoise(None, None)
    jump = jump_read_noise(stream, band)
    removed = jump < JUMP_OFFSETS_GAIN * total
    log.info("%s: jumps tested against %.3f per read (%s)", stream.ramp.path, jump if removed else total,
             "channel-row offsets removed" if removed else "offsets left: they add under 5 % to the noise")
    return JumpNoise(jump if removed else None, min(jump, total) if options.jump_step else None)
