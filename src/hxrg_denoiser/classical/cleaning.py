"""Removing correlated read noise from a flux image, using how the detector was read out.

The correlated noise left in an up-the-ramp flux image is, pixel by pixel,
a weighted sum over reads of noise streams sampled at the pixel's readout
time. In readout-time order ``(rows, channels, position)`` it has three
parts, each estimated here from the image itself:

* alternating column noise: per channel and row, a sign that flips between
  even and odd positions. Its amplitude is the median, over the row's science
  pixels, of the alternating part of a three-point high-pass (a smooth scene
  cancels), median-smoothed over ``acn_rows`` rows;
* common mode: the same value in all channels at the same instant. It is the
  median over channels of the pixels that hold no light (a mask of lit
  pixels comes from the image smoothed over 3 x 9 pixels, above
  ``lit_sigma`` robust sigmas, dilated by 2), averaged over
  ``COMMON_MODE_SAMPLES / n_channels`` consecutive instants where the detector has fewer than
  ``COMMON_MODE_SAMPLES`` channels: the median of 4 channels at one instant holds a third of each
  pixel's own white noise, and subtracting it would lower the scatter of dark pixels while adding
  the other channels' noise to every lit one (a JWST detector's 4 amplifiers);
* per-channel drift: each channel's own 1/f noise, seen in the mean of
  its dark pixels row by row. The drift at every row is predicted from the
  row means within ``DRIFT_REACH`` rows by ordinary kriging, with a
  power-law variogram fitted on the image's own row means (their white
  noise, from the scatter of dark pixels, taken out): near rows count most,
  in the proportion the noise's correlation gives them, which bridges the
  lit rows of an echelle order and smooths the dark ones. Where too few
  rows are well observed to fit the variogram, the mean of the dark pixels
  over ``channel_rows`` rows is used instead (``drift="mean"`` asks for it).

The common mode and the drifts are taken relative to their running median
over ``baseline_rows`` rows: a level that lasts that long is the scene's own
background (a flat field, the sky), not read noise, and is kept. For the
drifts that level is the median over channels: a level that differs from
channel to channel is read noise (the scene does not change at channel
boundaries), and a user's background subtraction, smoothed along an order
across a channel boundary, would not remove it.

The lit mask is made again on the image cleaned by the previous pass
(``passes`` in all): read noise that raises a whole region of a channel
would otherwise pass for light there and be left out of its own estimate,
and faint wings of the orders would pass for dark once the noise is gone
from the mask's threshold.

All three are subtracted from every science pixel; reference pixels keep
their values. The correction assumes a scene that leaves most pixels dark at
any instant (spectra, star fields); on a uniformly lit image it finds no dark
pixels; its level is then kept by the baseline rule above.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from hxrg_denoiser.classical.background import lit_pixels
from hxrg_denoiser.classical.kept_background import smooth_background
from hxrg_denoiser.classical.kriged_drift import (
    DRIFT_REACH,
    channel_row_means,
    fit_row_variogram,
    krige_channel_rows,
)
from hxrg_denoiser.geometry import ReadoutGeometry, channel_streams, rows_first

__all__ = [
    "clean_flux_image", "alternating_column_noise", "common_mode", "channel_drift",
    "fill_gaps_along_time", "channel_row_means", "fit_row_variogram", "krige_channel_rows",
    "LIT_READ_SCALE", "LIT_COVARIANCE_FRACTION", "DRIFT_REACH", "COMMON_MODE_SAMPLES", "smooth_common_mode",
]

COMMON_MODE_SAMPLES = 32  # dark pixels (channels x consecutive instants) behind each common-mode value

# Read-noise variance of pixels near light over that of dark pixels after cleaning: a dark pixel enters the
# estimates of the correlated noise and loses part of its own error, a lit pixel does not. Measured on
# simulated echelle and star fields of both bench presets, relative to the oracle, with
# ``python benchmarks/calibrate_lit_errors.py`` (2026-12-07: 1.07-1.15 over its 8 cases, mean 1.106).
LIT_READ_SCALE = 1.106

# Fraction of the input's correlated read-noise covariance (pixels 1-8 rows apart) that cleaning leaves in
# the pixels near light, correlated from row to row: where no channel or no pixel of a channel read at the
# same time is dark, the correlated noise is bridged from neighbouring readout times, and the bridge's error
# is shared by the rows it spans. Chosen so that extracted spectra of simulated echelle exposures (seeds
# 4101-4203, no benchmark's) have unit spread of error / propagated error
# (``python benchmarks/calibrate_lit_errors.py``).
LIT_COVARIANCE_FRACTION = 0.48  # 2026-12-07: spectra then 0.965-1.050 (1.011-1.215 at 0)


def alternating_column_noise(readout: np.ndarray, science: np.ndarray, smooth_rows: int = 9) -> np.ndarray:
    """Amplitude of the even/odd alternating pattern per row and channel, shape ``(rows, channels)``.

    Parameters
    ----------
    readout : ndarray, shape (rows, channels, width)
        Flux image in readout order.
    science : ndarray of bool, same shape
        Science pixels.
    smooth_rows : int
        Length of the running median along rows.
    """
    sign = np.where(np.arange(readout.shape[-1]) % 2 == 0, 1.0, -1.0).astype(readout.dtype)
    high_pass = np.full(readout.shape, np.nan, dtype=readout.dtype)
    high_pass[..., 1:-1] = readout[..., 1:-1] - 0.5 * (readout[..., :-2] + readout[..., 2:])
    usable = science.copy()
    usable[..., [0, -1]] = False
    usable[..., 1:-1] &= science[..., :-2] & science[..., 2:]
    values = np.where(usable, high_pass * sign, np.nan)
    with np.errstate(all="ignore"):
        amplitude = _nanmedian_last(values) / 2.0  # the high-pass of +a, -a, +a is 2a
    amplitude = np.nan_to_num(amplitude)
    return median_filter(amplitude, size=(smooth_rows, 1), mode="nearest")


def fill_gaps_along_time(
    values: np.ndarray, known: np.ndarray, edge: int = 1, decay: float | None = None
) -> np.ndarray:
    """``values`` (time on the last axis) with each run of unknown samples bridged from its two sides.

    The level on each side of a gap is the mean of the ``edge`` known samples
    next to it (a noisy estimate averaged down); the gap is filled by the
    straight line between them, times ``exp(-d / decay)`` where ``d`` is the
    distance to the nearer side (no decay when ``decay`` is None): a
    residual that is correlated over less than the gap is not extrapolated
    into its middle. Before the first and after the last known samples the
    one level is carried with the same decay. A series with no known sample becomes 0.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    flat_out, flat_known = out.reshape(-1, out.shape[-1]), known.reshape(-1, known.shape[-1])
    for series, ok in zip(flat_out, flat_known):
        if ok.all():
            continue
        if not ok.any():
            series[:] = 0.0
            continue
        _bridge_gaps(series, ok, max(1, edge), decay)
    return out


def _bridge_gaps(series: np.ndarray, ok: np.ndarray, edge: int, decay: float | None) -> None:
    """Fill the unknown runs of ``series`` in place (see :func:`fill_gaps_along_time`)."""
    index = np.flatnonzero(ok)
    cumulative = np.concatenate([[0.0], np.cumsum(series[index])])
    change = np.diff(np.concatenate([[0], (~ok).astype(np.int8), [0]]))
    for start, stop in zip(np.flatnonzero(change == 1), np.flatnonzero(change == -1)):
        before = int(np.searchsorted(index, start))  # known samples before the gap
        first, last = max(0, before - edge), min(index.size, before + edge)
        left = (cumulative[before] - cumulative[first]) / (before - first) if before > 0 else None
        right = (cumulative[last] - cumulative[before]) / (last - before) if last > before else None
        t = np.arange(start, stop)
        if left is None or right is None:
            level = np.full(t.size, right if left is None else left)
            distance = (stop - t) if left is None else (t - start + 1)
        else:
            level = left + (right - left) * (t - (start - 1)) / (stop - start + 1)
            distance = np.minimum(t - start + 1, stop - t)
        series[start:stop] = level if decay is None else level * np.exp(-distance / decay)


GUARD_ROWS = 2
DECAY_ROWS = 2.0


def _guard_long_gaps(known: np.ndarray, width: int) -> np.ndarray:
    """``known`` without the ``GUARD_ROWS`` rows of instants on each side of every gap of a row or more.

    When an order lights every channel over whole rows, its faint wings just
    outside the lit mask are common to all channels and would pass for
    common-mode noise at the edges of the gap.
    """
    change = np.diff(np.concatenate([[0], (~known).astype(np.int8), [0]]))
    guarded = known.copy()
    guard = GUARD_ROWS * width
    for start, stop in zip(np.flatnonzero(change == 1), np.flatnonzero(change == -1)):
        if stop - start >= width:
            guarded[max(0, start - guard) : stop + guard] = False
    return guarded if guarded.any() else known


def common_mode(readout: np.ndarray, dark: np.ndarray, min_dark: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median over channels of the dark pixels at each instant, and where it is known; shapes ``(rows, width)``.

    An instant is known when ``min_dark`` channels are dark there (default: a
    quarter of the channels, at least 3; a few stray pixels at the ends of an
    order would otherwise set it), and is not within ``GUARD_ROWS`` rows of a
    gap a row long or more. Unknown instants hold 0.
    """
    channels = readout.shape[1]
    min_dark = min_dark or min(channels, max(3, -(-channels // 4)))
    values = np.where(dark, readout, np.nan).transpose(0, 2, 1)  # rows, width, channels
    with np.errstate(all="ignore"):
        median = _nanmedian_last(values)
    known = _guard_long_gaps((dark.sum(axis=1) >= min_dark).reshape(-1), readout.shape[-1]).reshape(median.shape)
    return np.where(known, median, 0.0), known


def smooth_common_mode(common: np.ndarray, known: np.ndarray, n_channels: int) -> np.ndarray:
    """The common mode averaged over ``ceil(COMMON_MODE_SAMPLES / n_channels)`` consecutive known instants.

    Parameters
    ----------
    common, known : ndarray, shape (rows, width)
        The median over channels at each instant (readout order) and where it is known.
    n_channels : int

    Returns
    -------
    ndarray, shape (rows, width)
        Unchanged with :data:`COMMON_MODE_SAMPLES` channels or more; 0 where not known.
    """
    samples = -(-COMMON_MODE_SAMPLES // n_channels)
    if samples <= 1:
        return common
    values, weights = np.where(known, common, 0.0).reshape(-1), known.reshape(-1).astype(np.float64)
    total = uniform_filter1d(values, samples, mode="nearest")
    count = uniform_filter1d(weights, samples, mode="nearest")
    smooth = np.where(weights > 0, total / np.maximum(count, 1e-12), 0.0)
    return smooth.reshape(common.shape)


def channel_drift(readout: np.ndarray, dark: np.ndarray, smooth_rows: float = 15) -> tuple[np.ndarray, np.ndarray]:
    """Running mean of each channel's dark pixels along its readout stream, and where it is known.

    Both have the shape of ``readout``; a sample is known when at least a
    tenth of its window is dark; unknown samples hold 0.
    """
    rows, channels, width = readout.shape
    stream = channel_streams(readout).reshape(channels, -1)
    valid = channel_streams(dark).reshape(channels, -1)
    length = max(3, int(smooth_rows * width))
    total = uniform_filter1d(np.where(valid, stream, 0.0), length, axis=1, mode="nearest")
    count = uniform_filter1d(valid.astype(readout.dtype), length, axis=1, mode="nearest")
    known = count > 0.1
    drift = np.where(known, total / np.maximum(count, 1e-12), 0.0)
    return rows_first(drift.reshape(channels, rows, width)), rows_first(known.reshape(channels, rows, width))


def clean_flux_image(
    image: np.ndarray,
    geometry: ReadoutGeometry,
    *,
    acn_rows: int = 9,
    channel_rows: float = 15,
    lit_sigma: float = 2.0,
    baseline_rows: int = 257,
    decay_rows: float = DECAY_ROWS,
    drift: str = "kriged",
    passes: int = 3,
    background: bool | np.ndarray = False,
) -> np.ndarray:
    """Flux image with its correlated read noise estimated and removed (see the module description).

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
        Flux image (any units), e.g. reference-corrected up-the-ramp.
    geometry : ReadoutGeometry
    decay_rows : float
        Into a gap without dark pixels, the estimates at its sides are carried
        with this decay length (rows of readout time).
    drift : {"kriged", "mean"}
        Per-channel drift by kriging of the row means (falls back to the mean where the variogram
        cannot be fitted), or the running mean of dark pixels over ``channel_rows`` rows.
    passes : int
        Times the lit mask is made, each on the image the previous pass cleaned (the passes before
        the last only make the mask, with the running-mean drift, which is faster).
    background : bool or ndarray
        Keep the scene's smooth background across the columns (an array: the background to keep, e.g.
        :func:`smooth_background` weighted by the half-ramp test; True: found here and kept whole)
        (:func:`~hxrg_denoiser.classical.background.column_background`): it is taken out before the noise
        is estimated, on the dark pixels of the residual, and given back after; where it is not
        significant (a flat sky) nothing changes. Off by default: noise that is continuous across channels
        too (picture frames the reference pixels do not remove, some of NGHXRG's) is then kept as well
        (bench-v2's frame-ref1-linear, frame-ref5-corner and ng-* families show such structure). False: a
        sky gradient across channels is partly taken for channel levels.

    Returns
    -------
    ndarray, shape (n_rows, n_cols), float32
    """
    if drift not in ("kriged", "mean"):
        raise ValueError(f"drift must be 'kriged' or 'mean', got {drift!r}")
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    science_image = ~geometry.reference_mask & np.isfinite(image)
    work = np.where(science_image, image, 0.0).astype(np.float64)
    kept: np.ndarray | float
    if isinstance(background, np.ndarray):
        kept = np.where(science_image, background, 0.0)
    else:
        kept = smooth_background(work, geometry, lit_sigma).image if background else 0.0  # nothing to keep
    work -= kept
    science = geometry.to_readout_order(science_image)
    acn_sign = np.where(np.arange(geometry.channel_width) % 2 == 0, 1.0, -1.0)
    without_acn = geometry.to_readout_order(work)
    without_acn -= alternating_column_noise(without_acn, science, acn_rows)[..., None] * acn_sign
    readout = without_acn
    for index in range(passes):
        lit = lit_pixels(geometry.to_image_order(readout), science_image, lit_sigma)
        dark = science & geometry.to_readout_order(~lit)
        how = drift if index == passes - 1 else "mean"  # the passes before the last only make the mask
        readout = without_acn - _common_and_drift(without_acn, dark, geometry, channel_rows, baseline_rows,
                                                  decay_rows, how)
    cleaned = (geometry.to_image_order(readout) + kept).astype(np.float32)
    return np.where(science_image, cleaned, image).astype(np.float32)


def _common_and_drift(
    readout: np.ndarray, dark: np.ndarray, geometry: ReadoutGeometry, channel_rows: float, baseline_rows: int,
    decay_rows: float, drift: str,
) -> np.ndarray:
    """The common mode plus the per-channel drifts of ``readout`` (readout order), given its dark pixels."""
    rows, width = geometry.science_rows, geometry.channel_width
    decay = decay_rows * width
    common, known = common_mode(readout, dark)
    common = smooth_common_mode(common, known, geometry.n_channels)
    common = _high_pass_rows(common, known, baseline_rows, rows)
    common = fill_gaps_along_time(common.reshape(-1), known.reshape(-1), width, decay).reshape(common.shape)
    rest = readout - common[:, None]
    drifts, known = _channel_drifts(rest, dark, channel_rows, drift)
    drifts = _high_pass_rows(drifts, known, baseline_rows, rows, shared=True)
    streams = (channel_streams(drifts).reshape(geometry.n_channels, -1),
               channel_streams(known).reshape(geometry.n_channels, -1))
    drifts = rows_first(fill_gaps_along_time(*streams, 1, decay).reshape(geometry.n_channels, -1, width))
    return common[:, None] + drifts


def _channel_drifts(readout: np.ndarray, dark: np.ndarray, channel_rows: float, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel drift and where it is known, both of ``readout``'s shape (see the module description)."""
    if how == "kriged":
        means, counts, pixel_variance = channel_row_means(readout, dark)
        variogram = fit_row_variogram(means, counts, pixel_variance, readout.shape[-1] // 2)
        if variogram is not None:
            drift, known = krige_channel_rows(means, counts, pixel_variance, variogram)
            # read-only views: what follows only reads them (and its reshapes copy)
            return np.broadcast_to(drift[..., None], readout.shape), np.broadcast_to(known[..., None], readout.shape)
    return channel_drift(readout, dark, channel_rows)


def _high_pass_rows(
    values: np.ndarray, known: np.ndarray, rows: int, science_rows: slice, *, shared: bool = False
) -> np.ndarray:
    """``values`` (rows first) minus the running median, over ``rows`` science rows, of their row means.

    Row means are taken over the known samples; a row with none takes the
    mean of the rows around it. The noise estimates have no lasting level of
    their own once the reference pixels are used; a level that lasts many rows
    is the scene's background (a flat, the sky) and must stay in the image.
    ``shared``: ``values`` has channels on its second axis, and the level kept
    is the median over channels of theirs (a level of one channel only is noise).
    """
    shape = (values.shape[0], -1, values.shape[-1])
    count = known.reshape(shape).sum(axis=-1)
    total = np.where(known, values, 0.0).reshape(shape).sum(axis=-1)
    means = np.where(count > 0, total / np.maximum(count, 1), np.nan)  # rows, groups
    index = np.arange(means.shape[0])
    for group in means.T:
        ok = np.isfinite(group)
        group[~ok] = np.interp(index[~ok], index[ok], group[ok]) if ok.any() else 0.0
    baseline = np.zeros_like(means)
    inside = means[science_rows]
    if rows >= inside.shape[0]:  # a strip shorter than the window: one level over all its rows
        baseline[science_rows] = np.median(inside, axis=0)
    else:
        baseline[science_rows] = median_filter(inside, size=(rows, 1), mode="mirror")
    if shared:
        baseline = np.broadcast_to(np.median(baseline, axis=1, keepdims=True), baseline.shape)
    return values - baseline.reshape(values.shape[:-1])[..., None]


def _nanmedian_last(values: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN, without numpy's slow path for many small groups."""
    ordered = np.sort(values, axis=-1)  # NaN sort last
    count = np.sum(~np.isnan(values), axis=-1)
    low = np.take_along_axis(ordered, np.clip((count - 1) // 2, 0, None)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.clip(count // 2, 0, None)[..., None], axis=-1)[..., 0]
    return np.where(count > 0, 0.5 * (low + high), np.nan)
