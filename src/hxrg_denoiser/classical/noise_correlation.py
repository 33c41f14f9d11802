"""How the read-noise errors of a flux image correlate along a column, measured on the image's own dark pixels.

Correlated read noise (1/f, per-channel drifts, what a reference correction
or a cleaning leaves) makes the errors of pixels a few rows apart in a
column correlated. A per-pixel ERR cannot say so, and an extracted spectrum,
a weighted sum over the rows of an order's aperture at each column, then has
a larger error than ``sqrt(sum(w^2 ERR^2))``. :func:`read_noise_statistics`
measures, on pixels with no detectable light, how large the read-noise
errors really are against the predicted ``VAR_RNOISE`` (the correlated
noise a method leaves, which no per-read noise figure predicts) and the
correlation coefficient ``rho(l)`` of the errors of pixels ``l = 1 ..
max_lag`` rows apart in the same column; :func:`column_sum_variance`
propagates it into the variance of such a sum::

    var = sum_i w_i^2 (VAR_POISSON_i + VAR_RNOISE_i)
          + sum_{i != j} w_i w_j rho(|i - j|) sqrt(VAR_RNOISE_i VAR_RNOISE_j)

(photon noise is independent from pixel to pixel; the correlation is that of
the read noise, so it applies to lit pixels as measured on dark ones).
Products carry the scale as ``RNSCALE`` (already applied to ``VAR_RNOISE``
and ``ERR``) and ``rho`` as ``RNCORR1`` .. ``RNCORR8``. Methods that remove
correlated noise from the image leave more of it, and more correlated from
row to row, near light than on the dark pixels measured here; their products
also carry the correlation to use near light (an extraction's aperture) as
``RNLCOR1`` .. ``RNLCOR8`` (:func:`near_light_correlation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter, uniform_filter

from hxrg_denoiser.stats import mad_sigma, robust_sigma

__all__ = ["MAX_LAG", "ReadNoiseStatistics", "read_noise_statistics", "light_free_pixels", "plateau_light", "column_sum_variance",
           "near_light_correlation", "unit_spread_scale", "column_correlation"]

MAX_LAG = 8
MAX_PHOTON_RATIO = 3.0  # largest predicted photon / read-noise variance of the dark pixels measured
_MIN_PAIRS = 1000


def _dark_level(means: np.ndarray, rounds: int = 10) -> tuple[float, float]:
    """Level and spread of the dark part of a sample of local means.

    Light only adds: the spread is taken from below the median (median less the 15.9th percentile,
    one sigma of a normal distribution), and means more than 3 such spreads above the median are left
    out in turn, so that the estimate settles on the dark pixels even where light covers more than half
    of the image (the median and spread of all the means are then the light's).
    """
    kept = means
    for _ in range(rounds):
        level = float(np.median(kept))
        below_median = level - float(np.percentile(kept, 15.87))
        scale = below_median if below_median > 0 else robust_sigma(kept - level)
        below = means[means <= level + 3.0 * scale]
        if below.size == kept.size or below.size < 100:
            break
        kept = below
    return level, scale


def unit_spread_scale(squares: np.ndarray, photons: np.ndarray, rounds: int = 32) -> float | None:
    """The read-noise scale ``s`` for which ``mean(squares / (photons + s)) = 1``, or None below 0.1.

    ``squares`` are the dark pixels' squared deviations and ``photons`` their predicted photon variances,
    both over the predicted read-noise variance. Solving for a unit mean of the normalised squares (rather
    than subtracting the mean photon variance from the mean square) keeps ERR right where the predicted
    photon variance varies from pixel to pixel without being in the errors (a level the method leaves over
    the image, read as faint light: ERR then varies, and pixels with little of it would have too small an
    ERR). Bisection in ``log s`` (the mean falls as ``s`` grows; 32 halvings of [0.1, 1000] leave 2e-9).
    """
    step = max(1, squares.size // 1_000_000)  # a sample is plenty on a full frame
    squares, photons = squares[::step], photons[::step]
    low, high = 0.1, 1000.0
    if np.mean(squares / (photons + low)) <= 1.0:
        return None
    for _ in range(rounds):
        middle = float(np.sqrt(low * high))
        if np.mean(squares / (photons + middle)) > 1.0:
            low = middle
        else:
            high = middle
    return float(np.sqrt(low * high))


def _lowest_plateau(means: np.ndarray, noise: float, min_share: float = 0.05) -> tuple[float, float] | None:
    """The level and spread of the lowest of several populations of local means, or None where there is one.

    A scene that lights most of the image with a uniform level (a long slit's sky filling 70 % of the rows)
    puts the median of the local means, and :func:`_dark_level`'s dark level, on its light: its steps and
    lines then pass for read noise. Such an image has two (or more) separate populations of means: the
    densest level of the lowest one that holds at least ``min_share`` of them, with a valley below half its
    peak density between it and the next, is the dark one. A gradient or a broad spread of correlated noise
    has no such valley.

    Parameters
    ----------
    means : ndarray, shape (n,)
        Local means (a sample).
    noise : float
        Their spread from noise alone (the histogram is smoothed to it).

    Returns
    -------
    (level, spread) or None
        ``spread`` from the means below ``level`` (the 68.27th percentile of their distance to it).
    """
    if noise <= 0 or means.size < 1000:
        return None
    low, high = np.percentile(means, [0.1, 99.9])
    width = max(noise / 2.0, (high - low) / 4000.0)
    if high - low < 4.0 * width:
        return None
    counts, edges = np.histogram(means, bins=int(np.ceil((high - low) / width)), range=(low, high))
    density = gaussian_filter1d(counts.astype(np.float64), noise / width, mode="constant")
    reach = max(1, int(round(2.0 * noise / width)))
    peaks = [i for i in range(1, density.size - 1) if density[i] >= density[i - 1] and density[i] > density[i + 1]
             and counts[max(0, i - reach):i + reach + 1].sum() >= min_share * means.size]
    if len(peaks) < 2:
        return None
    lowest = peaks[0]
    valley = density[lowest:peaks[1] + 1].min()
    if valley > 0.5 * density[lowest]:
        return None
    level = float(0.5 * (edges[lowest] + edges[lowest + 1]))
    below = level - means[means < level]
    spread = float(np.percentile(below, 68.27)) if below.size >= 100 else noise
    return level, max(spread, noise)


def _channel_shaped(lit: np.ndarray, usable: np.ndarray, channel_width: int) -> bool:
    """Whether light covers whole channels and leaves the others dark (a step at channel boundaries: noise)."""
    n_channels = lit.shape[1] // channel_width
    if n_channels < 2:
        return False
    shares = [lit[:, k * channel_width:(k + 1) * channel_width][usable[:, k * channel_width:(k + 1) * channel_width]]
              .mean() for k in range(n_channels)]
    return all(share < 0.1 or share > 0.9 for share in shares)


def _local_means(sci: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """5 x 5 means of the usable pixels (float32) and where all 25 are usable."""
    # in place where it can be: a full frame's float32 image is 67 MB
    count = uniform_filter(usable.astype(np.float32), 5, mode="constant")
    surrounded = count > 0.99
    local = uniform_filter(np.where(usable, sci, 0.0).astype(np.float32, copy=False), 5, mode="constant")
    local /= np.maximum(count, 1e-6, out=count)
    return local, surrounded


def _plateau_level(local: np.ndarray, surrounded: np.ndarray, usable: np.ndarray, means: np.ndarray,
                   above: float, channel_width: int | None) -> tuple[float, float] | None:
    """:func:`_lowest_plateau` of the local means where it lies below ``above`` by 3 of its spreads and
    what it leaves lit is not whole channels; their noise from means 5 rows apart in the same columns
    (which a scene constant along the columns does not reach)."""
    pairs = surrounded[5:] & surrounded[:-5]
    steps = (local[5:] - local[:-5])[pairs][::7]
    plateau = _lowest_plateau(means, float(mad_sigma(steps)) / np.sqrt(2.0)) if steps.size else None
    if plateau is None or plateau[0] >= above - 3.0 * plateau[1]:
        return None
    if channel_width is not None and _channel_shaped((local - plateau[0]) > 5.0 * plateau[1], usable & surrounded,
                                                     channel_width):
        return None
    return plateau


def light_free_pixels(sci: np.ndarray, usable: np.ndarray, *, channel_width: int | None = None) -> np.ndarray:
    """Usable pixels away from any detected light.

    Light is where the 5 x 5 mean exceeds the image's typical level (the median of those means, light
    left out by :func:`_dark_level`) by more than 5 robust sigmas of the means themselves (so that
    patches of correlated noise are not taken for light, and are not excluded either: excluding them
    would bias the correlation low); lit pixels are grown by 4 pixels to leave out the wings of sources.
    Where the means form separate populations (a uniform light over most of the image, such as a long
    slit's sky), the dark level is that of the lowest (:func:`_lowest_plateau`), unless what it leaves lit
    is whole channels (``channel_width`` columns each): a step at channel boundaries is the readout's,
    not the scene's.

    Parameters
    ----------
    sci : ndarray, shape (n_rows, n_cols)
        A flux image.
    usable : ndarray of bool, shape (n_rows, n_cols)
    channel_width : int, optional
        Columns per output channel (no channel test without it).

    Returns
    -------
    ndarray of bool, shape (n_rows, n_cols)
    """
    local, surrounded = _local_means(sci, usable)
    means = local[usable][::7]  # a sample is plenty for two robust statistics (and 7x faster on a full frame)
    level, scale = _dark_level(means)
    level, scale = _plateau_level(local, surrounded, usable, means, level, channel_width) or (level, scale)
    return usable & surrounded & ~_lit(local, level, scale)


def plateau_light(sci: np.ndarray, usable: np.ndarray, *, channel_width: int | None = None) -> np.ndarray | None:
    """The pixels a uniform light over much of ``sci`` covers (grown by 4), or None where its local means form
    one population (:func:`light_free_pixels`' plateau test alone).

    For an image whose light is found on a cleaned copy: a cleaning takes a light that spans whole rows
    (a long slit's sky) for row noise, and the copy no longer shows it.
    """
    local, surrounded = _local_means(sci, usable)
    means = local[usable][::7]
    level, _ = _dark_level(means)
    plateau = _plateau_level(local, surrounded, usable, means, level, channel_width)
    return None if plateau is None else _lit(local, *plateau)


def _lit(local: np.ndarray, level: float, scale: float) -> np.ndarray:
    """Where the local means (changed in place) exceed ``level`` by 5 ``scale``, grown by 4 pixels."""
    local -= level
    return maximum_filter((local > 5.0 * scale).astype(np.uint8), size=9, mode="constant") > 0


class ReadNoiseStatistics(NamedTuple):
    """What the image's own dark pixels say of its read-noise errors.

    Attributes
    ----------
    scale : float
        Their read-noise variance over the predicted one (``VAR_RNOISE``): the ``s`` for which their
        deviations from their mean, over ``sqrt(VAR_POISSON + s VAR_RNOISE)``, have unit mean square.
    rho : list of float
        Correlation coefficient of the read-noise errors of pixels 1 .. ``max_lag`` rows apart in a column.
    pixels : int
        Dark pixels they were measured on.
    dark : ndarray of bool, shape (n_rows, n_cols)
        Those pixels (:func:`light_free_pixels`).
    variance : float
        Their read-noise variance (``scale`` times their mean ``VAR_RNOISE``; the image's units squared).
    """

    scale: float
    rho: list[float]
    pixels: int
    dark: np.ndarray
    variance: float

    @property
    def covariance(self) -> list[float]:
        """Covariance of the read-noise errors of dark pixels 1 .. ``max_lag`` rows apart in a column."""
        return [r * self.variance for r in self.rho]


def read_noise_statistics(
    sci: np.ndarray, var_rnoise: np.ndarray, var_poisson: np.ndarray | None, usable: np.ndarray,
    max_lag: int = MAX_LAG,
    *,
    light_image: np.ndarray | None = None,
    background: np.ndarray | None = None,
    dark: np.ndarray | None = None,
) -> ReadNoiseStatistics | None:
    """Measure the scale and the column correlation of the read-noise errors of a flux image on its dark pixels.

    Parameters
    ----------
    sci : ndarray, shape (n_rows, n_cols)
        The flux image (any units).
    var_rnoise : ndarray, shape (n_rows, n_cols)
        Predicted read-noise variance of ``sci`` (its units squared).
    var_poisson : ndarray, shape (n_rows, n_cols), optional
        Predicted photon-noise variance (subtracted: on a sky or a flat the "dark" pixels see light).
    usable : ndarray of bool, shape (n_rows, n_cols)
        Science pixels that may be used (finite, not flagged).
    max_lag : int
    light_image : ndarray, shape (n_rows, n_cols), optional
        The same scene with less correlated noise, to find the light on (default ``sci``). On a noisy image
        (CDS, or no reference correction), the faint wings of sources are not told from correlated noise,
        enter the "dark" pixels and make the scale too large; their deviations are still measured on
        ``sci``.
    background : ndarray, shape (n_rows, n_cols), optional
        The scene's smooth background (:func:`~hxrg_denoiser.classical.background.scene_background`), taken
        out of ``sci`` and ``light_image`` first: a sky gradient is not read noise, and would otherwise
        raise the scale (2-4x on a gradient across the array) and hide faint light under a global level.
    dark : ndarray of bool, shape (n_rows, n_cols), optional
        The pixels away from light, found already (:func:`light_free_pixels` of the image less
        ``background``); only the usable ones are measured.

    Returns
    -------
    ReadNoiseStatistics or None
        Measured on pixels away from detected light (see :func:`light_free_pixels`) after removing their mean;
        None where fewer than 1000 pairs of them exist at some lag (mostly lit images), or where their
        predicted photon variance exceeds 3 times their read-noise variance (a bright flat or sky: a small
        error of the photon variance would then make a large one of the read noise).
    """
    poisson = np.zeros_like(var_rnoise) if var_poisson is None else var_poisson
    usable = usable & np.isfinite(sci) & np.isfinite(var_rnoise) & (var_rnoise > 0) & np.isfinite(poisson)
    if usable.sum() < _MIN_PAIRS:
        return None
    if background is not None:
        sci = sci - background
        light_image = None if light_image is None else light_image - background
    sigma = np.sqrt(np.where(usable, var_rnoise, 1.0))
    dark = light_free_pixels(sci if light_image is None else light_image, usable) if dark is None else dark & usable
    if dark.sum() < _MIN_PAIRS:
        return None
    photons = float(np.mean(poisson[dark] / sigma[dark] ** 2))
    if photons > MAX_PHOTON_RATIO:  # a flat or a bright sky: photon noise would swamp the read noise measured
        return None
    normalised = np.where(dark, sci / sigma, 0.0).astype(np.float64)
    normalised[dark] -= normalised[dark].mean()
    scale = unit_spread_scale(normalised[dark] ** 2, (poisson[dark] / sigma[dark] ** 2).astype(np.float64))
    if scale is None:
        return None
    rho = column_correlation(normalised, dark, scale, max_lag)
    if rho is None:
        return None
    return ReadNoiseStatistics(scale, rho, int(dark.sum()), dark, scale * float(np.mean(sigma[dark] ** 2)))


def column_correlation(normalised: np.ndarray, measured: np.ndarray, scale: float,
                       max_lag: int = MAX_LAG) -> list[float] | None:
    """Correlation coefficient of ``normalised`` between measured pixels 1 .. ``max_lag`` rows apart in a column.

    Parameters
    ----------
    normalised : ndarray, shape (n_rows, n_cols), float64
        Deviations over the predicted read-noise sigma, 0 off the measured pixels (the plain sum of products
        is then that over pairs of measured pixels).
    measured : ndarray of bool, shape (n_rows, n_cols)
    scale : float
        Their read-noise variance over the predicted one (the correlation is that of the read noise).

    Returns
    -------
    list of float or None
        None where fewer than 1000 pairs exist at some lag.
    """
    rho = []
    for lag in range(1, max_lag + 1):
        pairs = int((measured[:-lag] & measured[lag:]).sum())
        if pairs < _MIN_PAIRS:
            return None
        rho.append(float(np.einsum("ij,ij->", normalised[:-lag], normalised[lag:]) / pairs / scale))
    return rho


def near_light_correlation(rho: Sequence[float], input_covariance: Sequence[float], fraction: float,
                           variance: float) -> list[float]:
    """Correlation of the read-noise errors of pixels near light, for a method that removes correlated noise.

    Where no dark pixel was read at the same time as a lit one, such a method bridges the correlated noise
    from neighbouring readout times, and the bridge's error is shared by the rows it spans: the pixels near
    light keep ``fraction`` of the input's covariance on top of the correlation the dark pixels show.

    Parameters
    ----------
    rho : list of float
        Correlation measured on the output's dark pixels (:attr:`ReadNoiseStatistics.rho`).
    input_covariance : list of float
        Covariance of the input's dark pixels at the same lags (:attr:`ReadNoiseStatistics.covariance`).
    fraction : float
        Calibrated on simulated exposures (``benchmarks/calibrate_lit_errors.py``).
    variance : float
        Typical read-noise variance (``VAR_RNOISE``) of the output's pixels near light.

    Returns
    -------
    list of float
        ``rho(l) + fraction * max(input_covariance(l), 0) / variance``.
    """
    return [r + fraction * max(c, 0.0) / variance for r, c in zip(rho, input_covariance)]


def column_sum_variance(
    weights: np.ndarray, var_total: np.ndarray, var_rnoise: np.ndarray, rho: Sequence[float] | None
) -> np.ndarray:
    """Variance of ``sum_i w_i x_i`` over consecutive rows of a column, with the read noise correlated by ``rho``.

    Parameters
    ----------
    weights : ndarray, shape (n, k)
        Weights of ``k`` consecutive rows, for each of ``n`` sums (e.g. an order's columns).
    var_total, var_rnoise : ndarray, shape (n, k)
        Total (``ERR**2``) and read-noise variances of the same pixels.
    rho : list of float or None
        ``rho`` of :func:`read_noise_statistics`; None or empty: pixels independent.

    Returns
    -------
    ndarray, shape (n,)
    """
    variance = np.sum(weights**2 * var_total, axis=1)
    if not rho:
        return variance
    scaled = weights * np.sqrt(np.clip(var_rnoise, 0.0, None))
    for lag in range(1, min(len(rho), weights.shape[1] - 1) + 1):
        variance = variance + 2.0 * rho[lag - 1] * np.sum(scaled[:, :-lag] * scaled[:, lag:], axis=1)
    return variance
