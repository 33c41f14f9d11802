"""The per-pixel ramp fit of one strip: slopes, their variance terms, jumps, reads used and intercepts.

A pure function on arrays (:func:`fit_strip`), with the choice of estimator
(:class:`SlopeEstimator`: CDS, Fowler, up-the-ramp with least-squares or
optimal weights) and of jump test (:class:`JumpTest`) passed as records. The
pipeline around it (reading strips, reference correction, read noise, the
product) is :mod:`hxrg_denoiser.fitting`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.classical.channel_rows import difference_offsets, set_weight_sums
from hxrg_denoiser.classical.estimators import (
    cds_weights,
    fowler_weights,
    noise_terms,
    ols_weights,
    optimal_utr_terms,
    weighted_read_sum,
)
from hxrg_denoiser.classical.jumps import (
    CLUSTER_THRESHOLD,
    DEFAULT_THRESHOLD,
    JumpPixels,
    detect_jumps,
    difference_noise,
    offset_weights,
    segment_read_weights,
)
from hxrg_denoiser.classical.step_test import step_jumps

__all__ = ["SlopeEstimator", "JumpTest", "StripFit", "read_weights", "slope_and_noise_terms", "slope_and_variance",
           "fit_strip", "METHODS", "WEIGHTINGS"]

METHODS = ("cds", "fowler", "utr")
WEIGHTINGS = ("ols", "optimal")


@dataclass(frozen=True)
class SlopeEstimator:
    """How a pixel's reads make its slope.

    Attributes
    ----------
    method : {"cds", "fowler", "utr"}
    weighting : {"ols", "optimal"}
        Up-the-ramp weights: ordinary least squares, or optimal for read noise plus Poisson noise.
    fowler_n : int
        Reads averaged at each end for Fowler sampling.
    """

    method: str = "utr"
    weighting: str = "ols"
    fowler_n: int = 4


@dataclass(frozen=True)
class JumpTest:
    """How jumps (cosmic rays) are found (:func:`~hxrg_denoiser.classical.jumps.detect_jumps`).

    Attributes
    ----------
    threshold : float or None
        Sigmas from the pixel's flux per frame; None: no jump detection.
    neighbours : bool
        Also flag the same read difference of the 4 neighbours of every jump.
    cluster_threshold : float or None
        The 8 neighbours of a jump are flagged above this many sigmas; None: no such test.
    step : bool
        Up the ramp, also test every unsaturated pixel without a jump for one step using all its reads
        (:mod:`hxrg_denoiser.classical.step_test`): the small jumps that bias a slope (CDS and Fowler,
        which leave out a pixel with a jump, do not).
    """

    threshold: float | None = DEFAULT_THRESHOLD
    neighbours: bool = False
    cluster_threshold: float | None = CLUSTER_THRESHOLD
    step: bool = True


def read_weights(method: str, n_reads: int, fowler_n: int = 4) -> np.ndarray:
    """Read weights of a linear estimator giving the slope per frame."""
    if method == "cds":
        return cds_weights(n_reads)
    if method == "fowler":
        return fowler_weights(n_reads, min(fowler_n, n_reads // 2))
    return ols_weights(n_reads)


def slope_and_noise_terms(electrons: np.ndarray, estimator: SlopeEstimator,
                          read_noise: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope (electrons per frame) of every pixel of a cube and its variance terms ``W`` and ``P``.

    The slope's variance is ``read_noise^2 W + flux P`` for white read noise plus Poisson accumulation
    (:func:`~hxrg_denoiser.classical.estimators.linear_slope_variance`).

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, ...)
        Electrons of each read.
    estimator : SlopeEstimator
    read_noise : float or ndarray
        Electrons per read (chooses the optimal weights), one value or one per pixel.

    Returns
    -------
    slope, white, poisson : ndarray, shape electrons.shape[1:], float32
    """
    n = electrons.shape[0]
    if estimator.weighting == "optimal":
        return optimal_utr_terms(electrons, read_noise)
    weights = read_weights(estimator.method, n, estimator.fowler_n)
    slope = weighted_read_sum(electrons, weights)
    white, poisson = noise_terms(weights)
    return slope, np.full(slope.shape, white, dtype=np.float32), np.full(slope.shape, poisson, dtype=np.float32)


def slope_and_variance(
    electrons: np.ndarray, estimator: SlopeEstimator, read_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Slope (electrons per frame) and its variance (each pixel's own flux for the Poisson part).

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, ...)
    estimator : SlopeEstimator
    read_noise : float
        Electrons per read.
    """
    slope, white, poisson = slope_and_noise_terms(electrons, estimator, read_noise)
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
    offset_slope: np.ndarray | None = None  # the same fit of the offsets given to fit_strip

    def rows(self, rows: slice) -> StripFit:
        """The fit of some of the strip's rows."""
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        return StripFit(*(None if value is None else value[rows] for value in values))  # type: ignore[arg-type]


def _intercept(reads: np.ndarray, slope: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Mean of ``R_k - slope k`` over reads ``first <= k < stop`` of each pixel (``reads``: (n_reads, pixels))."""
    k = np.arange(reads.shape[0], dtype=np.float64)[:, None]
    inside = (k >= first[None, :]) & (k < stop[None, :])
    count = np.maximum(inside.sum(axis=0), 1)
    return (np.where(inside, reads - slope[None, :] * k, 0.0).sum(axis=0) / count).astype(np.float32)


def fit_strip(electrons: np.ndarray, first_saturated: np.ndarray, estimator: SlopeEstimator, jumps: JumpTest,
              read_noise: float | np.ndarray, jump_noise: float | None = None,
              channel_width: int | None = None, step_noise: float | None = None,
              offsets: np.ndarray | None = None,
              flagged: tuple[np.ndarray, np.ndarray] | None = None) -> StripFit:
    """Slopes and variance terms of a strip, using only the reads before saturation and, up the ramp, between jumps.

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, rows, cols)
        Reference-corrected reads, electrons.
    first_saturated : ndarray of int, shape (rows, cols)
        Index of each pixel's first saturated read (``n_reads`` where none is).
    estimator : SlopeEstimator
    jumps : JumpTest
    read_noise : float or ndarray
        Electrons per read, one value or one per pixel.
    jump_noise : float, optional
        Jumps are tested against it on read differences with each channel row's offsets removed
        (``channel_width`` columns per channel), or against ``read_noise`` with them left in (None).
    channel_width : int, optional
        Columns per output channel: the channel rows whose offsets the jump tests remove.
    step_noise : float, optional
        The per-read noise left once those offsets are removed, for the step test (``jumps.step``); None:
        the step test takes the reads as they are, against ``jump_noise`` or ``read_noise``.
    offsets : ndarray, shape (n_reads, rows, n_channels, 2), optional
        Values per read, row, channel and parity of column (a reference correction's, from
        :meth:`~hxrg_denoiser.classical.corrections.ReferenceCorrection.apply_with_offsets`) to fit as the
        reads are fitted: the same weights, the same reads before saturation and between the jumps found.
        Their slope (``StripFit.offset_slope``) is what the slope would gain were they added to the reads,
        so the fit without the correction needs no fit of its own. Not with optimal weights (which depend on
        the reads): None then.
    flagged : (ndarray, ndarray), optional
        Read differences flagged as jumps before (a JWST ``GROUPDQ``'s): flat pixel indices into the strip's
        ``(rows, cols)`` and the differences (between reads ``d`` and ``d + 1``), taken as jumps as well as
        those found (alone where ``jumps.threshold`` is None).

    Returns
    -------
    StripFit
        Slopes in electrons per frame, their variance terms, jumps, reads used and intercepts.
    """
    n = electrons.shape[0]
    slope, white, poisson = slope_and_noise_terms(electrons, estimator, read_noise)
    offset_at = _pixel_offsets(offsets, electrons.shape[2]) \
        if offsets is not None and estimator.weighting != "optimal" else None  # optimal weights follow the reads
    offset_slope = offset_at(read_weights(estimator.method, n, estimator.fowler_n)) if offset_at else None
    for n_usable in np.unique(first_saturated[first_saturated < n]):
        pixels = np.nonzero(first_saturated == n_usable)
        if n_usable < 2:
            slope[pixels] = white[pixels] = poisson[pixels] = np.nan
            continue
        noise = read_noise[pixels] if isinstance(read_noise, np.ndarray) else read_noise
        sub = slope_and_noise_terms(electrons[:n_usable][(slice(None),) + pixels], estimator, noise)
        slope[pixels], white[pixels], poisson[pixels] = sub
        if offset_at is not None and offset_slope is not None:
            offset_slope[pixels] = offset_at(read_weights(estimator.method, int(n_usable), estimator.fowler_n),
                                             pixels)
    used = np.minimum(first_saturated, n).astype(np.uint16)
    used[used < 2] = 0
    intercept = weighted_read_sum(electrons, np.full(n, 1.0 / n)) - slope * np.float32((n - 1) / 2)
    if (first_saturated < n).any():
        partial = np.nonzero(first_saturated < n)
        reads = electrons[(slice(None),) + partial].astype(np.float64)
        intercept[partial] = _intercept(reads, slope[partial], np.zeros(reads.shape[1]), first_saturated[partial])
    jumped = np.zeros(slope.shape, dtype=bool)
    found = JumpPixels(np.empty(0, np.int64), np.zeros((max(n - 1, 0), 0), dtype=bool))
    if jumps.threshold is not None and n >= 3:
        found = detect_jumps(electrons, first_saturated, slope, read_noise if jump_noise is None else jump_noise,
                             threshold=jumps.threshold, neighbours=jumps.neighbours,
                             cluster_threshold=jumps.cluster_threshold,
                             channel_width=channel_width if jump_noise is not None else None)
        if jumps.step and estimator.method == "utr":  # CDS and Fowler would lose the pixel to a small step
            tested_against = step_noise if step_noise is not None else \
                read_noise if jump_noise is None else jump_noise
            found = _with_steps(found, electrons, first_saturated, slope, tested_against,
                                channel_width if step_noise is not None else None)
    if flagged is not None and flagged[0].size and n >= 2:
        found = found.with_flags(*flagged)
    if len(found) and estimator.method != "utr":
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
        if offset_at is not None and offset_slope is not None:
            where = np.unravel_index(found.pixels, slope.shape)
            offset_slope[where] = offset_at(weights, where)
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
    if offset_slope is not None:
        offset_slope[~np.isfinite(slope)] = np.nan
    return StripFit(slope, white, poisson, jumped, used, intercept, offset_slope)


def _pixel_offsets(offsets: np.ndarray, n_cols: int):
    """``fitted(weights, pixels=None)``: the weighted sum over reads of ``offsets`` (n_reads, rows, n_channels, 2)
    at each pixel's channel and parity of column: ``weights`` of shape (reads,) for every pixel of the strip
    (rows, cols), or of shape (reads,) or (reads, m) for the pixels ``pixels`` (a tuple of row and column
    indices, m pixels), over the first ``len(weights)`` reads; float32."""
    width = n_cols // offsets.shape[2]
    columns = np.arange(n_cols)
    channel, parity = columns // width, (columns % width) % 2

    def fitted(weights: np.ndarray, pixels: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        used = offsets[: weights.shape[0]].astype(np.float64)
        if pixels is None:
            return np.ascontiguousarray(np.tensordot(weights, used, axes=(0, 0))[:, channel, parity],
                                        dtype=np.float32)
        rows, cols = pixels
        values = used[:, rows, channel[cols], parity[cols]]  # reads, m
        weights = weights if weights.ndim == 2 else weights[:, None]
        return np.sum(weights * values, axis=0).astype(np.float32)

    return fitted


def _with_steps(found: JumpPixels, electrons: np.ndarray, first_saturated: np.ndarray, slope: np.ndarray,
                read_noise: float | np.ndarray, channel_width: int | None) -> JumpPixels:
    """``found`` and the steps of the unsaturated pixels it does not hold (one per pixel, the largest above
    :func:`~hxrg_denoiser.classical.step_test.step_threshold`).

    With ``channel_width`` (``read_noise`` then the noise left once they are removed), each read is taken
    less the channel-row offsets of the differences before it (the mean residual of each channel row's even
    and odd columns, each set that holds a flagged jump averaged again without it)."""
    n = electrons.shape[0]
    flat = electrons.reshape(n, -1)
    expected = np.nan_to_num(slope.reshape(-1))
    noise = read_noise.reshape(-1) if isinstance(read_noise, np.ndarray) else read_noise
    shifts = None
    if channel_width and flat.shape[1] % channel_width == 0 and channel_width % 2 == 0:
        weights = offset_weights(difference_noise(expected, noise), slope.reshape(-1), first_saturated.reshape(-1), n)
        offsets = found.offsets if found.offsets is not None else \
            difference_offsets(np.nan_to_num(flat), expected, channel_width, weights)
        before = np.zeros((n,) + offsets.shape[1:], dtype=np.float32)  # offsets of all differences before read k
        np.cumsum(_offsets_without_jumps(found, offsets, flat, expected, channel_width, weights), axis=0,
                  out=before[1:])
        shifts = before.reshape(n, -1), channel_width
    hits, places = step_jumps(flat, expected, noise, offsets=shifts)
    tested = (first_saturated.reshape(-1)[hits] >= n) & np.isfinite(slope.reshape(-1)[hits])
    tested &= ~np.isin(hits, found.pixels)
    return found.with_flags(hits[tested], places[tested])


def _offsets_without_jumps(found: JumpPixels, offsets: np.ndarray, flat: np.ndarray, expected: np.ndarray,
                           width: int, weights: np.ndarray) -> np.ndarray:
    """``offsets`` (n_reads - 1, sets, 2), the ``weights``-weighted means of their sets, with each set that
    holds flagged jumps averaged again without them."""
    read, which = np.nonzero(found.jumps)
    if read.size == 0:
        return offsets
    pixels = found.pixels[which]
    sets, parity = pixels // width, pixels % 2
    residual = flat[read + 1, pixels] - flat[read, pixels] - expected[pixels]
    removed = np.zeros(offsets.shape, dtype=np.float64)
    weight = np.zeros(offsets.shape, dtype=np.float64)
    np.add.at(removed, (read, sets, parity), weights[pixels] * residual)
    np.add.at(weight, (read, sets, parity), weights[pixels])
    total = set_weight_sums(weights, width).astype(np.float64)[None]  # every set's weight, (1, sets, 2)
    kept = total - weight
    fixed = np.where(kept > 1e-6 * total, (offsets * total - removed) / np.where(kept > 0, kept, 1.0), 0.0)
    return np.where(weight > 0, fixed, offsets).astype(np.float32)
