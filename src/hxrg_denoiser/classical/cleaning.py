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
  ``lit_sigma`` robust sigmas, dilated by 2);
* per-channel drift: the mean of each channel's dark pixels along its
  readout stream over ``channel_rows`` rows, which bridges the lit rows of
  an echelle order.

The common mode and the drifts are taken relative to their running median
over ``baseline_rows`` rows: a level that lasts that long is the scene's own
background (a flat field, the sky), not read noise, and is kept.

All three are subtracted from every science pixel; reference pixels keep
their values. The correction assumes a scene that leaves most pixels dark at
any instant (spectra, star fields); on a uniformly lit image it finds no dark
pixels; its level is then kept by the baseline rule above.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, median_filter, uniform_filter, uniform_filter1d

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["clean_flux_image", "alternating_column_noise", "lit_pixels", "common_mode", "channel_drift"]


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


def lit_pixels(image: np.ndarray, science: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Pixels that hold light: the image smoothed over 3 x 9 above ``sigma`` robust sigmas, dilated by 2."""
    smooth = uniform_filter(np.where(science, image, 0.0), size=(3, 9))
    values = smooth[science]
    centre = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - centre))
    return binary_dilation(smooth > centre + sigma * spread, iterations=2)


def common_mode(readout: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Median over channels of the dark pixels at each instant, shape ``(rows, width)`` (0 where none is dark)."""
    values = np.where(dark, readout, np.nan).transpose(0, 2, 1)  # rows, width, channels
    with np.errstate(all="ignore"):
        return np.nan_to_num(_nanmedian_last(values))


def channel_drift(readout: np.ndarray, dark: np.ndarray, smooth_rows: float = 15) -> np.ndarray:
    """Running mean of each channel's dark pixels along its readout stream, shape of ``readout``."""
    rows, channels, width = readout.shape
    stream = readout.transpose(1, 0, 2).reshape(channels, -1)
    valid = dark.transpose(1, 0, 2).reshape(channels, -1)
    length = max(3, int(smooth_rows * width))
    total = uniform_filter1d(np.where(valid, stream, 0.0), length, axis=1, mode="nearest")
    count = uniform_filter1d(valid.astype(readout.dtype), length, axis=1, mode="nearest")
    drift = np.where(count > 1e-6, total / np.maximum(count, 1e-12), 0.0)
    return drift.reshape(channels, rows, width).transpose(1, 0, 2)


def clean_flux_image(
    image: np.ndarray,
    geometry: ReadoutGeometry,
    *,
    acn_rows: int = 9,
    channel_rows: float = 15,
    lit_sigma: float = 2.0,
    baseline_rows: int = 257,
) -> np.ndarray:
    """Flux image with its correlated read noise estimated and removed (see the module description).

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
        Flux image (any units), e.g. reference-corrected up-the-ramp.
    geometry : ReadoutGeometry

    Returns
    -------
    ndarray, shape (n_rows, n_cols), float32
    """
    science_image = ~geometry.reference_mask & np.isfinite(image)
    work = np.where(science_image, image, 0.0).astype(np.float64)
    readout = geometry.to_readout_order(work)
    science = geometry.to_readout_order(science_image)
    acn_sign = np.where(np.arange(geometry.channel_width) % 2 == 0, 1.0, -1.0)
    readout -= alternating_column_noise(readout, science, acn_rows)[..., None] * acn_sign
    dark = science & geometry.to_readout_order(~lit_pixels(geometry.to_image_order(readout), science_image, lit_sigma))
    rows = geometry.science_rows
    readout -= _high_pass_rows(common_mode(readout, dark), baseline_rows, rows)[:, None, :]
    readout -= _high_pass_rows(channel_drift(readout, dark, channel_rows), baseline_rows, rows)
    cleaned = geometry.to_image_order(readout).astype(np.float32)
    return np.where(science_image, cleaned, image).astype(np.float32)


def _high_pass_rows(values: np.ndarray, rows: int, science_rows: slice) -> np.ndarray:
    """``values`` (rows first) minus the running median, over ``rows`` science rows, of their row means.

    The noise estimates have no lasting level of their own once the reference
    pixels are used; a level that lasts many rows is the scene's background
    (a flat, the sky) and must stay in the image.
    """
    means = values.reshape(values.shape[0], -1, values.shape[-1]).mean(axis=-1)  # rows, groups
    baseline = np.zeros_like(means)
    baseline[science_rows] = median_filter(means[science_rows], size=(rows, 1), mode="nearest")
    return values - baseline.reshape(values.shape[:-1])[..., None]


def _nanmedian_last(values: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN, without numpy's slow path for many small groups."""
    ordered = np.sort(values, axis=-1)  # NaN sort last
    count = np.sum(~np.isnan(values), axis=-1)
    low = np.take_along_axis(ordered, np.clip((count - 1) // 2, 0, None)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.clip(count // 2, 0, None)[..., None], axis=-1)[..., 0]
    return np.where(count > 0, 0.5 * (low + high), np.nan)
