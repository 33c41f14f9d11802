"""The scene's smooth background across the columns: what a correlated-noise correction must keep.

Read noise shared along a channel's row has the readout's shape: a level for each channel and row
(steps at channel boundaries), alternating columns. A sky, a gradient of scattered light or extended
emission is continuous across channel boundaries. So, in bands of rows, the column means of the dark
pixels are fitted jointly by a smooth function of the column (Legendre polynomials of degree 1 ..
``degree``, no constant) and one level per channel: the levels take what has the readout's shape, the
polynomial what is continuous (the two share only constants, which go to the levels). The polynomial's
coefficients are interpolated between the bands' centres, so that the background is smooth along the
rows too.

The background holds no constant: a level common to all channels (a flat sky) is the common mode's and
the baseline's business, as before (:mod:`hxrg_denoiser.classical.cleaning`).

Some read noise is continuous across channel boundaries too: a picture frame, or a pattern that every read
carries with a new amplitude (NGHXRG's darks have one). A scene's background accumulates charge at a
steady rate, so it is the same when segments of the ramp are fitted apart, and such noise is not:
:func:`background_evidence` compares the two, and :func:`smooth_background` keeps the background in
proportion (:func:`kept_fraction`). The error measurement takes the background out whole, and a low-order
level along the rows too (:func:`scene_background`): there, a sky gradient must not count as read noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.polynomial import legendre
from scipy.ndimage import binary_dilation, uniform_filter

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.stats import mad_sigma

__all__ = [
    "lit_pixels", "smooth_background", "KeptBackground", "RampSegments", "background_evidence", "kept_fraction",
    "column_background", "band_fits", "BandFits", "row_trend", "scene_background", "SceneBackground", "significant",
    "BAND_ROWS", "DEGREE", "ROW_DEGREE", "SIGNIFICANCE",
]

BAND_ROWS = 64  # rows fitted together
DEGREE = 5  # highest degree of the polynomial across the columns
CLIP = 5.0  # column means further than this many robust sigmas from the fit are left out (light the mask missed)
ROW_DEGREE = 2  # highest degree of the level common to all channels along the rows (error measurement only)
MIN_PIXELS = 1000  # usable pixels scene_background needs
MIN_CHANNELS_SEEN = 0.8  # share of the channels with dark columns a band needs to be fitted
SIGNIFICANCE = 5.0  # sigmas of the polynomials' chi-squared above its degrees of freedom: below, no background


def lit_pixels(image: np.ndarray, science: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Pixels that hold light: the image smoothed over 3 x 9 above ``sigma`` robust sigmas, dilated by 2."""
    smooth = uniform_filter(np.where(science, image, 0.0), size=(3, 9))
    values = smooth[science]
    centre, spread = np.median(values), mad_sigma(values)
    return binary_dilation(smooth > centre + sigma * spread, iterations=2)


def _design(geometry: ReadoutGeometry, degree: int) -> np.ndarray:
    """Columns x (``degree`` Legendre terms from degree 1, then one indicator per channel)."""
    u = (np.arange(geometry.n_cols) + 0.5) / geometry.n_cols * 2.0 - 1.0
    terms = legendre.legvander(u, degree)[:, 1:]
    channels = np.repeat(np.eye(geometry.n_channels), geometry.channel_width, axis=0)
    return np.hstack([terms, channels])


class _BandFit(NamedTuple):
    coefficients: np.ndarray  # the polynomial's
    chi2: float  # of the polynomial's coefficients against zero, given their covariance
    dof: int


def _inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive semi-definite ``matrix`` with a ridge of 1e-9 of its largest diagonal
    (a channel with no dark column gets a level of 0). LU, not an SVD: LAPACK's SVD gives results that depend on
    the number of BLAS threads, and a benchmark's figures must not."""
    ridge = 1e-9 * max(float(np.max(np.diag(matrix))), 1e-300)
    return np.linalg.inv(matrix + ridge * np.eye(matrix.shape[0]))


def _band_fit(means: np.ndarray, counts: np.ndarray, design: np.ndarray, degree: int) -> _BandFit | None:
    """The polynomial coefficients of one band (weighted least squares with clipping) and how far they are
    from zero in units of their own uncertainty, or None where too few columns hold dark pixels."""
    ok = counts > 0
    weights = counts  # each column mean's weight: its number of dark pixels
    for _ in range(3):
        if ok.sum() < 4 * design.shape[1]:
            return None
        # normal equations: the system is columns x (degree + channels), its Gram matrix small; einsum's own
        # loops, not BLAS, so that the result does not depend on the number of threads
        weighted = design[ok] * weights[ok, None]
        inverse = _inverse(np.einsum("ij,ik->jk", design[ok], weighted))
        solution = np.einsum("jk,k->j", inverse, np.einsum("ij,i->j", weighted, means[ok]))
        residual = (means - np.einsum("ij,j->i", design, solution)) * np.sqrt(np.maximum(counts, 1))
        spread = 1.4826 * np.median(np.abs(residual[ok] - np.median(residual[ok])))
        keep = ok & (np.abs(residual) <= CLIP * max(spread, 1e-12))
        if keep.sum() == ok.sum():
            break
        ok = keep
    covariance = max(spread, 1e-12) ** 2 * inverse[:degree, :degree]
    a = solution[:degree]
    return _BandFit(a, float(a @ _inverse(covariance) @ a), degree)


def significant(fits: list[_BandFit], sigmas: float = SIGNIFICANCE) -> bool:
    """Whether the bands' polynomials, together, differ from zero by more than ``sigmas`` standard deviations of
    a chi-squared of their degrees of freedom (a flat sky, noise only, gives none)."""
    chi2 = sum(f.chi2 for f in fits)
    dof = sum(f.dof for f in fits)
    return bool(dof) and chi2 > dof + sigmas * np.sqrt(2.0 * dof)


def column_background(image: np.ndarray, dark: np.ndarray, geometry: ReadoutGeometry, *,
                      band_rows: int = BAND_ROWS, degree: int = DEGREE) -> np.ndarray:
    """The smooth background across the columns of ``image``, shape ``(n_rows, n_cols)``, float64.

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
        A flux image (any units).
    dark : ndarray of bool, shape (n_rows, n_cols)
        Science pixels that hold no detected light.
    geometry : ReadoutGeometry
    band_rows : int
        Rows fitted together.
    degree : int
        Highest Legendre degree across the columns (limited to what the columns can carry beside one level
        per channel).

    Returns
    -------
    ndarray
        ``sum_k a_k(row) P_k(column)``; zero where the polynomials are not determined (no band had enough
        dark columns) or, all bands together, not significant (:func:`significant`: a flat sky keeps the
        image as it is); reference pixels included (the caller keeps only what it needs).
    """
    bands = band_fits(image, dark, geometry, band_rows=band_rows, degree=degree)
    if bands is None or not significant(bands.fits):
        return np.zeros(geometry.shape)
    return bands.background(geometry.n_rows)


class BandFits(NamedTuple):
    """The polynomial across the columns fitted in each band of rows that had enough dark columns."""

    centres: list[float]  # the bands' middle rows
    fits: list[_BandFit]
    design: np.ndarray  # columns x (degree Legendre terms, then one indicator per channel)
    degree: int

    @property
    def coefficients(self) -> np.ndarray:
        """Shape ``(bands, degree)``."""
        return np.array([f.coefficients for f in self.fits])

    def background(self, n_rows: int) -> np.ndarray:
        """The polynomials, their coefficients interpolated between the bands' centres, shape ``(n_rows, n_cols)``."""
        table = self.coefficients
        rows = np.arange(n_rows)
        row_coefficients = np.column_stack([np.interp(rows, self.centres, table[:, k]) for k in range(self.degree)])
        return np.einsum("rk,ck->rc", row_coefficients, self.design[:, : self.degree])


def band_fits(image: np.ndarray, dark: np.ndarray, geometry: ReadoutGeometry, *, band_rows: int = BAND_ROWS,
              degree: int = DEGREE) -> BandFits | None:
    """The joint fit of :func:`column_background` in each band of ``band_rows`` rows; None where the columns cannot
    carry a polynomial beside one level per channel or no band has enough dark columns."""
    n_rows, n_cols = geometry.shape
    degree = max(0, min(degree, n_cols // (2 * max(geometry.n_channels, 1)) - 1))
    if degree < 1:
        return None
    design = _design(geometry, degree)
    centres, fits = [], []
    for start in range(0, n_rows, band_rows):
        rows = slice(start, min(start + band_rows, n_rows))
        counts = dark[rows].sum(axis=0).astype(np.float64)
        seen = (counts.reshape(geometry.n_channels, -1) > 0).sum(axis=1) >= min(8, geometry.channel_width)
        if seen.mean() < MIN_CHANNELS_SEEN:  # the polynomial would be extrapolated across the channels unseen
            continue
        sums = np.where(dark[rows], image[rows], 0.0).sum(axis=0)
        fit = _band_fit(sums / np.maximum(counts, 1), counts, design, degree)
        if fit is not None:
            centres.append(0.5 * (rows.start + rows.stop - 1))
            fits.append(fit)
    return BandFits(centres, fits, design, degree) if fits else None


def row_trend(image: np.ndarray, dark: np.ndarray, degree: int = ROW_DEGREE) -> np.ndarray:
    """A low-order level along the rows shared by every column, shape ``(n_rows, 1)``, float64.

    The median of each row's dark pixels (rows with at least 16 of them), fitted by Legendre polynomials of
    the row up to ``degree`` with clipping at 5 robust sigmas (rows an extended source fills). A level common
    to all channels along the rows is the scene's as much as the common mode's: only the error measurement
    takes it out (:func:`scene_background`), the cleaning keeps a lasting level by its own baseline.
    Held at its ends beyond the first and last rows with dark pixels; zero where fewer than ``4 (degree + 1)``
    rows have enough of them or they span less than half the rows.
    """
    n_rows = image.shape[0]
    counts = dark.sum(axis=1)
    rows = np.flatnonzero(counts >= 16)
    if rows.size < 4 * (degree + 1):
        return np.zeros((n_rows, 1))
    if rows[-1] - rows[0] < n_rows // 2:  # a trend over a few rows would be extrapolated over the rest
        return np.zeros((n_rows, 1))
    step = max(1, int(counts.max()) // 1024)  # a thousand of a row's dark pixels are plenty for its median
    medians = np.array([np.median(image[r][dark[r]][::step]) for r in rows])
    # held at its ends beyond the rows that have dark pixels (a polynomial would run away there)
    u = (np.clip(np.arange(n_rows), rows[0], rows[-1]) + 0.5) / n_rows * 2.0 - 1.0
    design = legendre.legvander(u, degree)
    ok = np.ones(rows.size, dtype=bool)
    for _ in range(3):
        used = design[rows[ok]]
        solution = np.linalg.solve(np.einsum("ij,ik->jk", used, used), np.einsum("ij,i->j", used, medians[ok]))
        residual = medians - np.einsum("ij,j->i", design[rows], solution)
        spread = 1.4826 * np.median(np.abs(residual[ok] - np.median(residual[ok])))
        keep = np.abs(residual) <= CLIP * max(spread, 1e-12)
        if (keep == ok).all() or keep.sum() < 4 * (degree + 1):
            break
        ok = keep
    return np.einsum("ij,j->i", design, solution)[:, None]


def scene_background(image: np.ndarray, usable: np.ndarray, geometry: ReadoutGeometry,
                     dark_pixels: Callable[[np.ndarray, np.ndarray], np.ndarray], *, degree: int = DEGREE,
                     row_degree: int | None = ROW_DEGREE, negligible: float | None = None) -> SceneBackground:
    """The scene's smooth background: continuous across channel boundaries, shape ``(n_rows, n_cols)``, float64.

    :func:`column_background` (what is smooth across the columns and does not step at channel boundaries)
    plus :func:`row_trend` (a low-order level along the rows), each fitted on the pixels ``dark_pixels``
    finds on the image less the background found before (twice: on a gradient, the first mask is made on
    the raw image and mistakes its bright side for light). What has the readout's shape (a level per
    channel, a step at a boundary, structure faster than the polynomials) stays in ``image - background``.

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
        A flux image (any units).
    usable : ndarray of bool, shape (n_rows, n_cols)
        Science pixels that may be used.
    geometry : ReadoutGeometry
    dark_pixels : callable
        ``dark_pixels(image, usable)``: the usable pixels with no detected light.
    degree : int
        Highest Legendre degree across the columns.
    row_degree : int or None
        Highest degree of the row trend; None: no row trend (the cleaning's own baseline keeps a level
        that lasts along the rows).
    negligible : float, optional
        Where the first background found stays within this of zero everywhere, zero is returned at once
        with the first dark pixels (no second mask: a flat sky costs one ``dark_pixels``).

    Returns
    -------
    SceneBackground
        The background, with the mean of its row trend over the rows included (zero with fewer than
        :data:`MIN_PIXELS` usable pixels), and the dark pixels it was fitted on.
    """
    image = np.where(usable, image, 0.0).astype(np.float64)
    background = np.zeros(geometry.shape)
    if usable.sum() < MIN_PIXELS:
        return SceneBackground(background, usable)
    dark = dark_pixels(image, usable)
    for step in range(2):
        columns = np.where(usable, column_background(image, dark, geometry, degree=degree), 0.0)
        background = columns if row_degree is None else columns + row_trend(image - columns, dark, row_degree)
        if step == 0 and negligible is not None and np.abs(background[usable]).max() <= negligible:
            return SceneBackground(np.zeros(geometry.shape), dark)
        if step == 0:
            dark = dark_pixels(image - background, usable)
    return SceneBackground(background, dark)


class SceneBackground(NamedTuple):
    """The scene's smooth background (:func:`scene_background`) and the dark pixels it was last fitted on."""

    image: np.ndarray  # (n_rows, n_cols), float64
    dark: np.ndarray  # (n_rows, n_cols), bool


class RampSegments(NamedTuple):
    """The same exposure fitted on consecutive segments of its reads, each a flux of the whole ramp (the
    units of the full fit), and the number of reads in each."""

    images: list[np.ndarray]
    n_reads: list[int]


def _utr_variance(n_reads: int) -> float:
    """Variance of an up-the-ramp slope over ``n_reads`` equally spaced reads, white noise of unit variance and
    unit spacing, up to a constant: ``1 / (n (n^2 - 1))``."""
    return 1.0 / (n_reads * (n_reads**2 - 1.0))


def background_evidence(image: np.ndarray, segments: RampSegments, dark: np.ndarray, geometry: ReadoutGeometry, *,
                        band_rows: int = BAND_ROWS, degree: int = DEGREE) -> float:
    """How many times the power of the image's smooth background exceeds what noise would give it, ``F``.

    A scene's background accumulates charge at a steady rate: fitted on each segment of the reads, it is the
    same. Noise with the same smooth shape (a picture frame, a pattern every read carries with a new
    amplitude) changes from segment to segment as it does between exposures. The polynomial coefficients of
    :func:`band_fits` are fitted on the image and on every segment with the same dark pixels; the segments'
    scatter about their weighted mean, each scaled to the full ramp (for noise white from read to read a
    segment of ``m`` reads has ``v(m) / v(n)`` times the full ramp's variance, ``v(n) = 1 / (n (n^2 - 1))``),
    measures the noise's power in the image's coefficients; ``F`` is their mean square over it. For noise
    alone it follows an F distribution with 1 and ``segments - 1`` degrees of freedom per independent
    pattern; a sky gradient's is 10 to 10^4 (``benchmarks/keep_background.py``).

    Returns
    -------
    float
        ``inf`` where the segments agree exactly; NaN where no band could be fitted in all of them.
    """
    found = [band_fits(x, dark, geometry, band_rows=band_rows, degree=degree) for x in (image, *segments.images)]
    fitted = [f for f in found if f is not None]
    if len(fitted) < len(found):
        return float("nan")
    common = set.intersection(*(set(f.centres) for f in fitted))
    if not common:
        return float("nan")
    full, *parts = (np.array([c.coefficients for centre, c in zip(f.centres, f.fits) if centre in common])
                    for f in fitted)
    relative = np.array([_utr_variance(m) for m in segments.n_reads]) / _utr_variance(sum(segments.n_reads))
    stacked = np.stack(parts)  # segments, bands, degree
    weights = (1.0 / relative)[:, None, None]
    mean = np.sum(weights * stacked, axis=0) / np.sum(weights)
    noise = float(np.mean(np.sum(weights * (stacked - mean) ** 2, axis=0)) / (len(parts) - 1))
    signal = float(np.mean(full**2))
    return signal / noise if noise > 0 else float("inf")


def kept_fraction(evidence: float) -> float:
    """The fraction of the background to keep, ``max(0, 1 - 1/F)``: the weight that makes the expected square
    error least when the background found is the scene's plus noise of a ``1/F`` share of its power
    (noise alone keeps about none; NaN keeps all of it: nothing could be measured against it)."""
    if not np.isfinite(evidence):
        return 1.0 if np.isnan(evidence) or evidence > 0 else 0.0
    return max(0.0, 1.0 - 1.0 / evidence) if evidence > 0 else 0.0


class KeptBackground(NamedTuple):
    """The scene's smooth background a correlated-noise correction keeps.

    Attributes
    ----------
    image : ndarray, shape (n_rows, n_cols), float64
        What is kept: the background found times ``fraction``; zero off the science pixels.
    fraction : float
        Share of the background found that is kept (:func:`~hxrg_denoiser.classical.background.kept_fraction`;
        1.0 where it was not tested, 0.0 where none was found).
    evidence : float or None
        Its power over the noise's (:func:`~hxrg_denoiser.classical.background.background_evidence`), None
        where it was not tested.
    """

    image: np.ndarray
    fraction: float
    evidence: float | None


def smooth_background(image: np.ndarray, geometry: ReadoutGeometry, lit_sigma: float = 2.0, *,
                      segments: Callable[[], RampSegments | None] | None = None) -> KeptBackground:
    """The scene's smooth background across the columns that a correlated-noise correction keeps.

    :func:`~hxrg_denoiser.classical.background.scene_background` without a row trend, on the pixels that
    :func:`lit_pixels` leaves dark; zero off the science pixels and where it is not significant (a flat sky).
    ``segments``: the exposure fitted on segments of its reads (called only where a background is found);
    what is kept is then weighted by how clearly it accumulates like charge rather than changes like noise
    (:func:`~hxrg_denoiser.classical.background.background_evidence`).
    """
    science = ~geometry.reference_mask & np.isfinite(image)

    def dark(residual: np.ndarray, usable: np.ndarray) -> np.ndarray:
        return usable & ~lit_pixels(residual, usable, lit_sigma)

    found = np.where(science, scene_background(image, science, geometry, dark, row_degree=None).image, 0.0)
    if segments is None or not found.any():
        return KeptBackground(found, 1.0 if found.any() else 0.0, None)
    split = segments()
    if split is None:
        return KeptBackground(found, 1.0, None)
    work = np.where(science, image, 0.0)
    evidence = background_evidence(work, split, science & ~lit_pixels(work - found, science, lit_sigma), geometry)
    fraction = kept_fraction(evidence)
    return KeptBackground(found * fraction, fraction, evidence)
