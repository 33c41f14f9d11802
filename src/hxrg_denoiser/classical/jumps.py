"""Cosmic-ray jumps: two-point-difference detection and slopes fitted on the segments between jumps.

A jump between reads ``k`` and ``k + 1`` (a cosmic ray, a charge burst) shows
as a read difference ``d_k = R_{k+1} - R_k`` far above the pixel's expected
difference, the flux per frame. As stcal's jump step does, each difference is
compared with that expectation in units of its own noise,
``sigma = sqrt(2 s^2 + flux)`` (read noise ``s`` per read, Poisson variance of
one frame's electrons), and the largest ratio above the threshold is flagged;
the expectation is re-estimated without it (median of the differences left)
and the test repeated until no difference exceeds the threshold.

The slope of a pixel with jumps is the ordinary least-squares slope of each
segment of consecutive unflagged differences, the segments combined with
their read-noise weights. With ``m`` reads in a segment its slope variance is
``12 s^2 / (m (m^2 - 1))``; the combination gives difference ``j`` of a segment
(``1 <= j <= m - 1``) the weight ``j (m - j) / 2`` over the sum of
``m (m^2 - 1) / 12``, which for a single segment of all reads is the plain
up-the-ramp slope. Reads at and after saturation never enter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.classical.channel_rows import extreme_residuals_in_blocks, offsets_of, robust_offsets, set_weights
from hxrg_denoiser.stats import all_finite

__all__ = ["JumpPixels", "detect_jumps", "offset_weights", "difference_noise", "segment_read_weights",
           "DEFAULT_THRESHOLD", "CLUSTER_THRESHOLD", "CLUSTER_SEED", "CLUSTER_MAX_JUMPS"]

DEFAULT_THRESHOLD = 5.0  # sigmas; with 100 reads, about 6e-5 false flags per pixel of Gaussian noise
CLUSTER_THRESHOLD = 2.0  # sigmas, one-sided, for the neighbours of a jump at its difference (2.3 % false flags)
# Only a cosmic ray's neighbours are tested: a jump of at least CLUSTER_SEED times the threshold (the charge
# it spreads can show there) in a pixel with at most CLUSTER_MAX_JUMPS jumps (a pixel that jumps often is
# noisy, or sees a pattern a correction injected, and its neighbours share it: testing them at 2 sigma
# would cut their ramps into pieces).
CLUSTER_SEED = 2.0
CLUSTER_MAX_JUMPS = 2


@dataclass
class JumpPixels:
    """The pixels of a strip with at least one jump.

    Attributes
    ----------
    pixels : ndarray of int, shape (n,)
        Flat indices into the strip's ``(rows, cols)``.
    jumps : ndarray of bool, shape (n_reads - 1, n)
        True for the flagged differences of each such pixel.
    offsets : ndarray, shape (n_reads - 1, rows * cols // width, 2), or None
        The channel-row offsets removed from each difference's residuals, even and odd columns (with a
        channel width only; the mean of every set, jumps included).
    """

    pixels: np.ndarray
    jumps: np.ndarray
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.pixels.size)

    def with_flags(self, pixels: np.ndarray, reads: np.ndarray) -> JumpPixels:
        """These jumps and the differences ``reads`` of ``pixels`` flagged too."""
        merged, jumps = _merged(self.pixels, self.jumps, pixels, reads)
        return JumpPixels(merged, jumps, self.offsets)


def offset_weights(sigma: np.ndarray, slope: np.ndarray, first_saturated: np.ndarray, n_reads: int) -> np.ndarray:
    """Each pixel's weight in its channel row's offsets: :func:`~hxrg_denoiser.classical.channel_rows.set_weights`
    of the noise ``sigma`` of its differences (:func:`difference_noise`), 0 for a pixel that saturates
    (``first_saturated`` below ``n_reads``: its later differences lie a whole flux below their expectation)
    or has no ``slope`` (NaN). Every argument but ``n_reads`` has shape (pixels,)."""
    weights = set_weights(sigma)
    weights[(first_saturated < n_reads) | ~np.isfinite(slope)] = 0.0
    return weights


def difference_noise(expected: np.ndarray, read_noise: float | np.ndarray) -> np.ndarray:
    """Noise of one read difference: white read noise of two reads plus the frame's Poisson variance."""
    return np.sqrt(2.0 * read_noise**2 + np.maximum(expected, 0.0)).astype(np.float32)


def detect_jumps(
    electrons: np.ndarray,
    first_saturated: np.ndarray,
    slope: np.ndarray,
    read_noise: float | np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    neighbours: bool = False,
    channel_width: int | None = None,
    cluster_threshold: float | None = CLUSTER_THRESHOLD,
) -> JumpPixels:
    """Jumps of every pixel of a strip.

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, rows, cols)
        Reads in electrons (reference-corrected or not).
    first_saturated : ndarray of int, shape (rows, cols)
        Index of each pixel's first saturated read (``n_reads`` if none); later differences are ignored.
    slope : ndarray, shape (rows, cols)
        A first estimate of the flux per frame (the up-the-ramp slope); NaN pixels are skipped.
    read_noise : float or ndarray
        Noise per read, electrons: one value, or one per pixel, shape (rows, cols). Without
        ``channel_width``, the whole per-read noise, correlated part included; with it, the per-read noise
        left in a difference once its channel row's offsets are removed (:func:`jump_read_noise
        <hxrg_denoiser.fitting.jump_read_noise>`).
    threshold : float
        Sigmas above which a difference is a jump.
    neighbours : bool
        Also flag the same difference of the 4 neighbours of every jump (charge spilling over).
    cluster_threshold : float or None
        A cosmic ray deposits charge in a few neighbouring pixels at once: the 8 neighbours of every jump
        that looks like one (at least :data:`CLUSTER_SEED` times ``threshold`` sigmas, in a pixel with at
        most :data:`CLUSTER_MAX_JUMPS` jumps) are tested again at the same difference, and flagged where it
        exceeds their expectation by more than this many sigmas (one-sided: a deposit adds charge). None: no
        such test.
    channel_width : int, optional
        Columns per output channel (even). Given, each channel row's offsets (the means of its even and of
        its odd columns' residuals, each pixel weighted by the inverse variance of its difference so that
        bright pixels' shot noise stays out, pixels that saturate left out (:func:`offset_weights`); pixels
        more than 4 sigmas off left out where a candidate is one of them) are removed from each difference
        before the test, so that the threshold stands on less of the correlated noise and smaller jumps are
        found.

    Returns
    -------
    JumpPixels
    """
    n = electrons.shape[0]
    shape = electrons.shape[1:]
    empty = JumpPixels(np.zeros(0, dtype=np.int64), np.zeros((max(n - 1, 0), 0), dtype=bool))
    if n < 3:
        return empty
    flat = electrons.reshape(n, -1)
    noise = np.broadcast_to(np.asarray(read_noise, dtype=np.float32), shape).reshape(-1)
    saturated = first_saturated.reshape(-1) < n
    expected = np.nan_to_num(slope.reshape(-1).astype(np.float32))
    width = channel_width if channel_width and channel_width % 2 == 0 and shape[-1] % channel_width == 0 else None
    sigma = difference_noise(expected, noise)
    weights = None
    if width is None:
        high, low = _extreme_differences(flat, expected)
        offsets = None
    else:  # non-finite inputs (flagged, never fitted) take no part and are no candidates
        if not all_finite(flat):
            flat = np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0)
        weights = offset_weights(sigma, slope.reshape(-1), first_saturated.reshape(-1), n)
        high, low, offsets = extreme_residuals_in_blocks(flat, expected, width, weights)
    with np.errstate(invalid="ignore"):
        worst = np.maximum(high - expected, expected - low) / sigma
    # saturated pixels are tested below on their usable differences only
    candidates = np.flatnonzero((np.nan_to_num(worst) > threshold) | saturated)
    if offsets is not None and width is not None and weights is not None and candidates.size:
        hidden = robust_offsets(flat, expected, sigma, candidates, offsets, width, threshold, weights)
        candidates = np.union1d(candidates, hidden)
    if candidates.size == 0:
        return JumpPixels(empty.pixels, empty.jumps, offsets)
    d = np.diff(flat[:, candidates], axis=0)
    if offsets is not None and width is not None:
        d = d - offsets_of(offsets, candidates, width)
    ok = np.arange(n - 1)[:, None] < (first_saturated.reshape(-1)[candidates] - 1)[None, :]
    noise = noise[candidates]
    ratio = np.nan_to_num(np.abs(d - expected[candidates]) / difference_noise(expected[candidates], noise))
    jumps = np.zeros(d.shape, dtype=bool)
    active = np.arange(candidates.size)
    first = True
    while active.size:
        r = ratio[:, active] if first else _ratios(d[:, active], ok[:, active] & ~jumps[:, active], noise[active])
        first = False
        r = np.where(ok[:, active] & ~jumps[:, active], r, 0.0)
        worst = r.argmax(axis=0)
        hit = r[worst, np.arange(active.size)] > threshold
        jumps[worst[hit], active[hit]] = True
        active = active[hit]
    keep = jumps.any(axis=0)
    pixels, jumps = candidates[keep], jumps[:, keep]
    if cluster_threshold is not None and pixels.size:
        strength = _ratios(d[:, keep], ok[:, keep] & ~jumps, noise[keep])
        seeds = jumps & (strength > CLUSTER_SEED * threshold) & (jumps.sum(axis=0) <= CLUSTER_MAX_JUMPS)
        extra_pixels, extra_reads = _cluster_members(flat, expected, sigma, offsets, width, shape, first_saturated,
                                                     pixels, seeds, cluster_threshold)
        pixels, jumps = _merged(pixels, jumps, extra_pixels, extra_reads)
    if neighbours:
        pixels, jumps = _with_neighbours(pixels, jumps, shape, first_saturated.reshape(-1))
    return JumpPixels(pixels, jumps, offsets)


def _extreme_differences(flat: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest read difference of every pixel of ``flat`` (reads, pixels), one read at a time."""
    high = np.full(flat.shape[1], -np.inf, dtype=np.float32)
    low = np.full(flat.shape[1], np.inf, dtype=np.float32)
    step = np.empty(flat.shape[1], dtype=np.float32)
    for k in range(flat.shape[0] - 1):
        np.subtract(flat[k + 1], flat[k], out=step)
        np.maximum(high, step, out=high)
        np.minimum(low, step, out=low)
    return high, low


def _cluster_members(reads: np.ndarray, expected: np.ndarray, sigma: np.ndarray, offsets: np.ndarray | None,
                     width: int | None, shape: tuple[int, ...], first_saturated: np.ndarray, pixels: np.ndarray,
                     jumps: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The 8 neighbours of each jump (``jumps``: those to test around, of ``pixels``) whose same difference
    exceeds its expectation by ``threshold`` sigmas.

    Undetected, the charge a cosmic ray leaves beside its centre (a few percent of it in a corner) biases
    the slope by up to ``1.5 / n_reads`` of it per frame, many times the slope's noise: a neighbour is
    tested only where a jump happened, so a low threshold flags few differences that hold none.

    Returns
    -------
    pixels, reads : ndarray of int
        Flat pixel indices and difference indices of the new flags.
    """
    read, jump = np.nonzero(jumps)
    which, neighbour = _neighbours(pixels[jump], shape, _EIGHT)
    k = read[which].astype(np.int64)
    excess = reads[k + 1, neighbour] - reads[k, neighbour] - expected[neighbour]
    if offsets is not None and width is not None:
        excess = excess - offsets[k, neighbour // width, neighbour % 2]
    hit = (excess > threshold * sigma[neighbour]) & (k < first_saturated.reshape(-1)[neighbour] - 1)
    return neighbour[hit], k[hit]


def _merged(pixels: np.ndarray, jumps: np.ndarray, more_pixels: np.ndarray,
            more_reads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pixels`` and their ``jumps`` (n_diffs, n) with the flags ``(more_pixels, more_reads)`` added."""
    if more_pixels.size == 0:
        return pixels, jumps
    merged, where = np.unique(np.concatenate([pixels, more_pixels]), return_inverse=True)
    flags = np.zeros((jumps.shape[0], merged.size), dtype=bool)
    flags[:, where[: pixels.size]] = jumps
    flags[more_reads, where[pixels.size :]] = True
    return merged.astype(np.int64), flags


def _ratios(d: np.ndarray, usable: np.ndarray, read_noise: float | np.ndarray) -> np.ndarray:
    """|difference - median of the usable differences| over its noise, for a few pixels."""
    masked = np.where(usable, d, np.nan)
    with np.errstate(all="ignore"):
        expected = np.nan_to_num(np.nanmedian(masked, axis=0))
    return np.abs(d - expected) / difference_noise(expected, read_noise)


_FOUR = ((-1, 0), (1, 0), (0, -1), (0, 1))
_EIGHT = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)


def _neighbours(pixels: np.ndarray, shape: tuple[int, ...], steps: tuple[tuple[int, int], ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The neighbours within the strip (rows, cols) of flat pixel indices, one ``(dy, dx)`` step each.

    Returns
    -------
    which, neighbour : ndarray of int
        For each neighbour found, the index into ``pixels`` of the pixel it is next to, and its flat index.
    """
    rows, cols = shape[-2], shape[-1]
    y, x = np.divmod(pixels, cols)
    which, neighbour = [], []
    for dy, dx in steps:
        inside = np.flatnonzero((y + dy >= 0) & (y + dy < rows) & (x + dx >= 0) & (x + dx < cols))
        which.append(inside)
        neighbour.append((y[inside] + dy) * cols + x[inside] + dx)
    return np.concatenate(which), np.concatenate(neighbour).astype(np.int64)


def _with_neighbours(pixels: np.ndarray, jumps: np.ndarray, shape: tuple[int, ...], first_saturated: np.ndarray):
    """Add the same differences of the 4 neighbours of every jump (within the strip), before their saturation."""
    n_diffs = jumps.shape[0]
    which, neighbour = _neighbours(pixels, shape, _FOUR)
    before = np.arange(n_diffs)[:, None] < (first_saturated[neighbour] - 1)[None, :]
    all_pixels, all_jumps = [pixels, neighbour], [jumps, jumps[:, which] & before]
    merged, where = np.unique(np.concatenate(all_pixels), return_inverse=True)
    flags = np.zeros((merged.size, n_diffs), dtype=bool)
    np.logical_or.at(flags, where, np.concatenate(all_jumps, axis=1).T)
    return merged.astype(np.int64), flags.T.copy()


def segment_read_weights(usable: np.ndarray) -> np.ndarray:
    """Read weights of the segment-wise up-the-ramp slope, per pixel.

    Parameters
    ----------
    usable : ndarray of bool, shape (n_reads - 1, n_pixels)
        Differences that enter the fit (not a jump, not after saturation).

    Returns
    -------
    ndarray, shape (n_reads, n_pixels), float64
        Weights ``a`` with slope ``sum_k a_k R_k`` (electrons per frame); all zero for a pixel with no usable
        difference.
    """
    n_diffs, n_pixels = usable.shape
    position = np.zeros(usable.shape, dtype=np.float64)  # j: 1-based position of a difference in its segment
    length = np.zeros(usable.shape, dtype=np.float64)  # differences in the segment
    run = np.zeros(n_pixels)
    for k in range(n_diffs):
        run = np.where(usable[k], run + 1, 0)
        position[k] = run
    run = np.zeros(n_pixels)
    for k in range(n_diffs - 1, -1, -1):  # the segment's length, carried back from its end
        ends = usable[k] & ((k == n_diffs - 1) | ~usable[min(k + 1, n_diffs - 1)])
        run = np.where(ends, position[k], np.where(usable[k], run, 0))
        length[k] = run
    m = length + 1  # reads in the segment
    diff_weights = np.where(usable, position * (m - position) / 2.0, 0.0)
    total = np.where(usable & (position == length), m * (m**2 - 1) / 12.0, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff_weights = np.where(total > 0, diff_weights / total, 0.0)
    weights = np.zeros((n_diffs + 1, n_pixels))
    weights[1:] += diff_weights
    weights[:-1] -= diff_weights
    return weights
