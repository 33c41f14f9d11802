"""Each output channel's own drift, predicted row by row from its dark pixels' row means by ordinary kriging.

The per-channel 1/f noise left in a flux image shows as the mean of each channel's dark pixels row by row.
The drift at every row is predicted from the row means within :data:`DRIFT_REACH` rows, with a power-law
variogram fitted on the image's own row means (their white noise, from the scatter of dark pixels, taken out):
near rows count most, in the proportion the noise's correlation gives them. Used by
:func:`~hxrg_denoiser.classical.cleaning.clean_flux_image`.
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.stats import mad_sigma

__all__ = ["channel_row_means", "fit_row_variogram", "krige_channel_rows", "DRIFT_REACH", "MIN_VARIOGRAM_PAIRS"]

DRIFT_REACH = 16  # rows on each side that predict a channel's drift at a row
MIN_VARIOGRAM_PAIRS = 20  # row pairs, well observed, needed at a lag for the variogram to use it


def channel_row_means(readout: np.ndarray, dark: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean of each channel's dark pixels in each row, their counts, and the variance of one dark pixel.

    Parameters
    ----------
    readout : ndarray, shape (rows, channels, width)
    dark : ndarray of bool, same shape

    Returns
    -------
    means, counts : ndarray, shape (rows, channels)
        Means (0 where a row of a channel has no dark pixel) and numbers of dark pixels.
    pixel_variance : float
        Robust variance of dark pixels about their row's mean (NaN with fewer than 100 of them):
        the white part of each mean's error is ``pixel_variance / counts``.
    """
    counts = dark.sum(axis=-1)
    total = np.where(dark, readout, 0.0).sum(axis=-1)
    means = np.where(counts > 0, total / np.maximum(counts, 1), 0.0)
    well_observed = counts >= 8
    # the dark pixels of well-observed rows, in order, less their row's mean (no image-sized temporaries)
    chosen = dark & well_observed[..., None]
    deviations = readout[chosen] - np.broadcast_to(means[..., None], readout.shape)[chosen]
    deviations = deviations[np.isfinite(deviations)]
    deviations = deviations[:: max(1, deviations.size // 1_000_000)]  # a million is plenty for a robust sigma
    pixel_variance = float(mad_sigma(deviations) ** 2) if deviations.size >= 100 else float("nan")
    return means, counts, pixel_variance


def fit_row_variogram(
    means: np.ndarray, counts: np.ndarray, pixel_variance: float, min_count: int, reach: int = DRIFT_REACH
) -> tuple[float, float] | None:
    """Power-law variogram ``gamma(d) = a d^beta`` of the channels' row means, white noise taken out.

    For each lag ``d`` from 1 to ``reach`` rows, half the mean squared
    difference of row means ``d`` rows apart (both with at least
    ``min_count`` dark pixels, pooled over channels) minus their white noise;
    ``a`` and ``beta`` are fitted to the positive ones in log-log, ``beta``
    kept within (0.05, 1.9) so that the variogram is valid.

    Returns
    -------
    (a, beta), or None where the dark pixels have no scatter or fewer than 4 lags have enough pairs
    and a positive value.
    """
    if not pixel_variance > 0:  # NaN too
        return None
    good = counts >= min_count
    lags, values = [], []
    for d in range(1, min(reach, means.shape[0] - 1) + 1):
        both = good[d:] & good[:-d]
        if both.sum() < MIN_VARIOGRAM_PAIRS:
            continue
        squared = (means[d:] - means[:-d])[both] ** 2
        white = 0.5 * pixel_variance * (1.0 / counts[d:][both] + 1.0 / counts[:-d][both])
        lags.append(d)
        values.append(0.5 * np.mean(squared) - np.mean(white))
    lag, value = np.asarray(lags, dtype=np.float64), np.asarray(values)
    positive = value > 0
    if positive.sum() < 4:
        return None
    beta = float(np.clip(np.polyfit(np.log(lag[positive]), np.log(value[positive]), 1)[0], 0.05, 1.9))
    a = float(np.exp(np.mean(np.log(value[positive]) - beta * np.log(lag[positive]))))
    return a, beta


def krige_channel_rows(
    means: np.ndarray, counts: np.ndarray, pixel_variance: float, variogram: tuple[float, float],
    reach: int = DRIFT_REACH,
) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's drift at every row, predicted by ordinary kriging from the row means around it.

    The rows within ``reach`` of a row that have dark pixels enter with the
    power-law ``variogram`` (``a``, ``beta``) and the white noise
    ``pixel_variance / counts`` of their means; the weights sum to one, so
    the channel's level is not assumed known. The prediction is of the
    noise-free drift, at observed rows too.

    Returns
    -------
    drift : ndarray, shape (rows, channels)
    known : ndarray of bool, shape (rows, channels)
        Rows with at least one observed row within ``reach`` (elsewhere ``drift`` is 0).
    """
    a, beta = variogram
    rows, channels = means.shape
    offsets = np.arange(-reach, reach + 1)
    size = offsets.size

    def gamma(lag: np.ndarray) -> np.ndarray:
        return a * np.abs(lag).astype(np.float64) ** beta

    # covariance form: C0 - gamma; C0 cancels under the weights' sum-to-one constraint, and only conditions
    sill = 2.0 * float(gamma(np.array(4 * reach))) + pixel_variance
    among = sill - gamma(offsets[:, None] - offsets[None, :])
    towards = sill - gamma(offsets)
    index = np.arange(rows)[:, None] + offsets[None, :]
    inside = (index >= 0) & (index < rows)
    index = np.clip(index, 0, rows - 1)
    drift = np.zeros((rows, channels))
    known = np.zeros((rows, channels), dtype=bool)
    diagonal = np.arange(size)
    for channel in range(channels):
        n = counts[index, channel]
        observed = inside & (n > 0)
        system = np.zeros((rows, size + 1, size + 1))
        system[:, :size, :size] = among * (observed[:, :, None] & observed[:, None, :])
        system[:, diagonal, diagonal] = np.where(observed, sill + pixel_variance / np.maximum(n, 1), 1.0)
        system[:, :size, size] = observed
        system[:, size, :size] = observed
        has = observed.any(axis=1)
        system[~has, size, size] = 1.0  # solvable; the result is not used
        right = np.zeros((rows, size + 1, 1))
        right[:, :size, 0] = np.where(observed, towards, 0.0)
        right[:, size, 0] = 1.0
        weights = np.linalg.solve(system, right)[:, :size, 0]
        values = np.where(observed, means[index, channel], 0.0)
        drift[:, channel] = np.where(has, np.sum(weights * values, axis=1), 0.0)
        known[:, channel] = has
    return drift, known
