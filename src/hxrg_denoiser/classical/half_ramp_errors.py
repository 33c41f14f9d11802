"""The read-noise errors of a flux image measured on the two halves of its ramp, where the dark pixels mislead.

The image's own dark pixels (:mod:`hxrg_denoiser.classical.noise_correlation`) measure its errors well where
dark pixels exist. Where light covers the image (a nebula's faint emission, the overlapping wings of a crowded
field), their scatter is not the noise's: on bench-v3 the reference-corrected fit's scale came out 4.4x
(nebula) and 2.9x (crowded field) the truth.

The ramp tells noise from scene in time instead: the slopes of its first and second halves hold the same
scene, so their difference holds only noise, on every pixel, lit or dark. Where the noise that is left
is independent from read to read (a reference correction removes what every read shares), the predicted
variances of the two halves scale by the same factor as the whole ramp's: :func:`half_ramp_statistics`
measures it, and the column correlation of the difference, as
:func:`~hxrg_denoiser.classical.noise_correlation.read_noise_statistics` does on dark pixels. Noise common to
both halves (a drift over the whole ramp; without reference correction, the slowest part of the correlated
noise) cancels in the difference, so that the halves' scale of a fit without reference correction can fall
short of the truth; and a pattern the whole image holds once can be a larger draw in the difference (on the
first seed of each bench-v2 family, plain UTR: from 19 % short, 0.96 against 1.18 on ng-strong, to 38 %
over, 1.38 against 1.10 on h4rg-lab; ``python benchmarks/err_from_halves.py --refcorr none --suite
bench-v2``). It is used one way only: where the
dark pixels' scale exceeds it by more than :data:`DISAGREEMENT` (:func:`prefer_halves`), the excess being
scene, which only adds to their scatter. There the dark pixels are far off: on bench-v3's crowded field a
plain fit's dark pixels said 2.35, the halves 0.99 and the truth 0.94; on a nebula, 10-40 where the halves
said 0.94-1.25. Where the halves say
more, the difference may hold a larger draw of a pattern the whole image holds once (a picture frame with
one amplitude per read: on bench-v3's frame-bowl-stars-s9512 the halves' scale would have made ERR 2.3x too
large), and the dark pixels, which measure the image's own draw, are kept.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hxrg_denoiser.classical.noise_correlation import (
    MAX_LAG,
    MAX_PHOTON_RATIO,
    column_correlation,
    unit_spread_scale,
)

__all__ = ["HalfRampStatistics", "half_ramp_statistics", "prefer_halves", "worth_checking", "halves_can_measure",
           "DISAGREEMENT", "USUAL_SCALE", "MIN_HALF_READS"]

# Dark-pixel scales up to this are taken as they are (no second pass over the ramp): the seed-corrected fits of
# bench-v1's first seeds and of bench-v3's stars, imaging, galaxies and long slit measured 0.82-1.04, the
# halves within 10 % of them.
USUAL_SCALE = 1.25
DISAGREEMENT = 1.25  # the halves' scale replaces the dark pixels' where theirs is more than this factor larger
MIN_HALF_READS = 3  # fewest reads in each half
_MIN_PIXELS = 1000


class HalfRampStatistics(NamedTuple):
    """What the difference of a ramp's halves says of its fit's read-noise errors (:func:`half_ramp_statistics`)."""

    scale: float  # VAR_RNOISE's factor
    rho: list[float]  # correlation of the read-noise errors 1 .. max_lag rows apart in a column
    pixels: int  # pixels measured


def worth_checking(scale: float, measured: bool = True, measurable: bool = True) -> bool:
    """Whether an image's read-noise scale is to be checked on the ramp's halves: a dark-pixel scale over
    :data:`USUAL_SCALE`, or none measured (too few dark pixels) where the halves can measure one
    (``measurable``, :func:`halves_can_measure`)."""
    return scale > USUAL_SCALE if measured else measurable


def prefer_halves(dark_scale: float, halves_scale: float, measured: bool = True) -> bool:
    """Whether the halves' scale replaces the image's: the dark pixels' where they measured it and it is more
    than :data:`DISAGREEMENT` times larger; the prediction (``dark_scale``, 1) where nothing measured it and the
    halves say more (an image without dark pixels keeps at least its predicted error: without reference
    correction the halves miss the slowest correlated noise; on bench-v3's JWST imaging field, whose dark pixels
    measure nothing, the plain fit's halves said 0.95 and the truth 1.16)."""
    return dark_scale > DISAGREEMENT * halves_scale if measured else halves_scale > dark_scale


def halves_can_measure(var_rnoise: np.ndarray, var_poisson: np.ndarray, usable: np.ndarray) -> bool:
    """Whether enough pixels (1000) have a photon variance under :data:`MAX_PHOTON_RATIO` times their read-noise
    variance for :func:`half_ramp_statistics` to measure a scale (a bright flat has none: no second pass)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        faint = usable & (var_poisson < MAX_PHOTON_RATIO * var_rnoise) & (var_rnoise > 0)
    return int(np.count_nonzero(faint)) >= _MIN_PIXELS


def half_ramp_statistics(
    first: np.ndarray, second: np.ndarray, var_rnoise: np.ndarray, var_poisson: np.ndarray, usable: np.ndarray,
    max_lag: int = MAX_LAG,
) -> HalfRampStatistics | None:
    """The read-noise scale and column correlation of a ramp's fit, from the fits of its two halves.

    Parameters
    ----------
    first, second : ndarray, shape (n_rows, n_cols)
        The flux of the first and of the second half of the reads, in the same units (any).
    var_rnoise, var_poisson : ndarray, shape (n_rows, n_cols)
        Predicted read-noise and photon-noise variances of ``first - second`` (the sums of the halves').
    usable : ndarray of bool, shape (n_rows, n_cols)
        Pixels that may be used (science pixels without flags in either half).
    max_lag : int

    Returns
    -------
    HalfRampStatistics or None
        ``scale``: the ``s`` for which ``(first - second - its median) / sqrt(var_poisson + s var_rnoise)`` has
        unit mean square, on the pixels whose photon variance is under :data:`MAX_PHOTON_RATIO` times their
        read-noise variance; ``rho``: the correlation of the read-noise part of the differences ``1 ..
        max_lag`` rows apart in a column; ``pixels``: how many were measured. None with fewer than 1000 of
        them, or 1000 pairs at some lag.
    """
    difference = first.astype(np.float64) - second
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = var_poisson / var_rnoise
    measured = usable & np.isfinite(difference) & np.isfinite(var_rnoise) & (var_rnoise > 0) & np.isfinite(ratio) \
        & (ratio < MAX_PHOTON_RATIO)
    if measured.sum() < _MIN_PIXELS:
        return None
    sigma = np.sqrt(np.where(measured, var_rnoise, 1.0))
    normalised = np.where(measured, difference / sigma, 0.0)
    normalised[measured] -= np.median(normalised[measured])
    scale = unit_spread_scale(normalised[measured] ** 2, ratio[measured].astype(np.float64))
    if scale is None:
        return None
    rho = column_correlation(normalised, measured, scale, max_lag)
    return None if rho is None else HalfRampStatistics(scale, rho, int(measured.sum()))
