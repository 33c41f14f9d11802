"""Metrics of a flux image against the truth (simulations), as judged in the field.

All functions are pure: arrays in, numbers out. ``estimate`` and ``truth``
are images in electrons over the ramp; ``mask`` selects the science pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hxrg_denoiser.classical.noise_correlation import light_free_pixels
from hxrg_denoiser.stats import robust_sigma

__all__ = [
    "PixelErrors",
    "robust_sigma",
    "pixel_errors",
    "linearity",
    "noise_slope",
    "lit_and_dark",
    "lit_minus_dark_bias",
    "lit_over_dark_read_variance",
]


class PixelErrors(NamedTuple):
    """Error statistics over pixels: RMS, robust sigma and mean (bias), electrons."""

    rms: float
    robust_sigma: float
    bias: float


def pixel_errors(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> PixelErrors:
    """Statistics of ``estimate - truth`` over ``mask`` (all finite pixels by default)."""
    error = np.asarray(estimate, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    if mask is not None:
        error = error[mask]
    error = error[np.isfinite(error)]
    return PixelErrors(float(np.sqrt(np.mean(error**2))), robust_sigma(error), float(np.mean(error)))


def linearity(
    estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None, n_bins: int = 12
) -> tuple[float, float]:
    """Slope and intercept of the mean estimate against the true flux, in flux bins.

    Pixels are binned by true flux (quantiles of the pixels with flux > 0,
    plus a zero-flux bin); the means per bin are fitted with a line weighted
    by the pixel count. A slope of 1 and intercept of 0 mean no scale or
    offset bias.
    """
    est = np.asarray(estimate, dtype=np.float64)
    tru = np.asarray(truth, dtype=np.float64)
    if mask is not None:
        est, tru = est[mask], tru[mask]
    keep = np.isfinite(est) & np.isfinite(tru)
    est, tru = est[keep], tru[keep]
    positive = tru > 0
    edges = np.unique(np.quantile(tru[positive], np.linspace(0, 1, n_bins + 1))) if positive.any() else np.array([])
    bins = [tru == 0] + [positive & (tru >= lo) & (tru <= hi) for lo, hi in zip(edges[:-1], edges[1:])]
    bins = [b for b in bins if b.any()]
    centres = [float(tru[b].mean()) for b in bins]
    means = [float(est[b].mean()) for b in bins]
    counts = [int(b.sum()) for b in bins]
    if len(centres) < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(centres, means, 1, w=np.sqrt(counts))
    return float(slope), float(intercept)


def noise_slope(n_reads: np.ndarray, noise: np.ndarray) -> float:
    """Log-log slope of noise against the number of reads (-0.5 for white-noise UTR of a fixed flux)."""
    n_reads = np.asarray(n_reads, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    keep = np.isfinite(noise) & (noise > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(n_reads[keep]), np.log(noise[keep]), 1)[0])


def lit_and_dark(
    truth: np.ndarray, science: np.ndarray, *, threshold: float = 1.0, margin: int = 3, background: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Science pixels that hold light (truth > ``threshold`` e- above the background) and those far from any.

    Dark pixels have a truth within 1 % of ``threshold`` of the background
    and lie more than ``margin`` pixels from every lit pixel (profile wings
    stay out of both). The background is 0, or with ``background`` the 5th
    percentile of the truth (a sky).
    """
    from scipy.ndimage import binary_dilation

    level = float(np.percentile(truth[science], 5)) if background else 0.0
    lit = science & (truth > level + threshold)
    near = binary_dilation(lit, iterations=margin) if lit.any() else lit
    dark = science & (np.abs(truth - level) < 0.01 * threshold) & ~near
    return lit, dark


def lit_minus_dark_bias(
    estimate: np.ndarray, truth: np.ndarray, science: np.ndarray, *, threshold: float = 1.0, margin: int = 3,
    background: bool = False,
) -> float:
    """Mean error over lit pixels minus mean error over dark pixels, electrons (NaN without both).

    A uniform offset, which local background subtraction removes, cancels; an
    error confined to lit pixels (or to the rows they are in) does not.
    """
    lit, dark = lit_and_dark(truth, science, threshold=threshold, margin=margin, background=background)
    error = np.asarray(estimate, dtype=np.float64) - truth
    lit &= np.isfinite(error)
    dark &= np.isfinite(error)
    if lit.sum() < 10 or dark.sum() < 10:
        return float("nan")
    return float(error[lit].mean() - error[dark].mean())


def lit_over_dark_read_variance(
    sci: np.ndarray, var_rnoise: np.ndarray, oracle_sci: np.ndarray, oracle_var_rnoise: np.ndarray,
    truth: np.ndarray, usable: np.ndarray, applied: float = 1.0,
) -> float:
    """How much larger a method's read-noise variance is, against its prediction, near light than on the
    dark pixels its ERR is scaled on.

    The method's read-noise variance on a set of pixels is its error variance less the oracle's (the
    same ramp without its correlated noise: the photon and white noise cancel in the difference) plus
    the oracle's read-noise variance; it is divided by the method's predicted ``VAR_RNOISE`` there, on
    the pixels near detected light and on those away from it
    (:func:`~hxrg_denoiser.classical.noise_correlation.light_free_pixels` of ``sci``, as the product's
    ``RNSCALE`` is measured), and the first is divided by the second.

    Parameters
    ----------
    sci, var_rnoise : ndarray, shape (n_rows, n_cols)
        The method's flux and VAR_RNOISE (electrons, electrons squared).
    oracle_sci, oracle_var_rnoise : ndarray, shape (n_rows, n_cols)
        The same for the oracle.
    truth : ndarray, shape (n_rows, n_cols)
    usable : ndarray of bool, shape (n_rows, n_cols)
        Science pixels without flags.
    applied : float
        The lit-pixel scale already in ``var_rnoise`` (the product's ``read_noise_lit_scale``), undone.

    Returns
    -------
    float
        1 where a method's read noise is the same near light and away from it (plain fits).
    """
    usable = usable & np.isfinite(sci) & np.isfinite(oracle_sci) & np.isfinite(var_rnoise)
    dark = light_free_pixels(sci, usable)
    lit = usable & ~dark
    predicted = np.where(dark, var_rnoise, var_rnoise / np.float32(applied))

    def relative_read_variance(pixels: np.ndarray) -> float:
        error = sci[pixels].astype(np.float64) - truth[pixels]
        oracle_error = oracle_sci[pixels].astype(np.float64) - truth[pixels]
        read = np.var(error) - np.var(oracle_error) + np.mean(oracle_var_rnoise[pixels])
        return float(read / np.mean(predicted[pixels]))

    return relative_read_variance(lit) / relative_read_variance(dark)
