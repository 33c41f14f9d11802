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

What a correction keeps of it, and the test on segments of the ramp that tells it from noise of the same
shape, is :mod:`hxrg_denoiser.classical.kept_background`. The error measurement takes the background out
whole, and a low-order level along the rows too (:func:`scene_background`): there, a sky gradient must not
count as read noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.polynomial import legendre
from scipy.ndimage import binary_dilation, uniform_filter

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.stats import MAD_TO_SIGMA

__all__ = [
    "lit_pixels", "column_background", "band_fits", "BandFits", "row_fit", "RowFit", "row_trend", "scene_background",
    "SceneBackground", "significant", "BAND_ROWS", "DEGREE", "ROW_DEGREE", "SIGNIFICANCE",
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
    centre = np.median(values)
    spread = MAD_TO_SIGMA * np.median(np.abs(values - centre))  # mad_sigma(values), its median not taken twice
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


class RowFit(NamedTuple):
    """Legendre coefficients of a level along the rows (constant first) and their design, rows x terms."""

    coefficients: np.ndarray
    design: np.ndarray

    def trend(self, constant: bool = True) -> np.ndarray:
        """The level at every row, shape ``(n_rows, 1)``; without its constant where asked."""
        first = 0 if constant else 1
        return np.einsum("ij,j->i", self.design[:, first:], self.coefficients[first:])[:, None]


def row_fit(image: np.ndarray, dark: np.ndarray, degree: int = ROW_DEGREE) -> RowFit | None:
    """The fit of :func:`row_trend`; None where fewer than ``4 (degree + 1)`` rows have 16 dark pixels or they
    span less than half the rows."""
    n_rows = image.shape[0]
    counts = dark.sum(axis=1)
    rows = np.flatnonzero(counts >= 16)
    if rows.size < 4 * (degree + 1) or rows[-1] - rows[0] < n_rows // 2:  # a trend over a few rows would run away
        return None
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
    return RowFit(solution, design)


def row_trend(image: np.ndarray, dark: np.ndarray, degree: int = ROW_DEGREE) -> np.ndarray:
    """A low-order level along the rows shared by every column, shape ``(n_rows, 1)``, float64.

    The median of each row's dark pixels (rows with at least 16 of them), fitted by Legendre polynomials of
    the row up to ``degree`` with clipping at 5 robust sigmas (rows an extended source fills). Held at its ends
    beyond the first and last rows with dark pixels; zero where :func:`row_fit` finds too few rows.
    """
    fit = row_fit(image, dark, degree)
    return np.zeros((image.shape[0], 1)) if fit is None else fit.trend()


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
        return SceneBackground(background, usable, usable)
    first = dark = dark_pixels(image, usable)
    for step in range(2):
        columns = np.where(usable, column_background(image, dark, geometry, degree=degree), 0.0)
        background = columns if row_degree is None else columns + row_trend(image - columns, dark, row_degree)
        if step == 0 and negligible is not None and np.abs(background[usable]).max() <= negligible:
            return SceneBackground(np.zeros(geometry.shape), dark, first)
        if step == 0:
            dark = dark_pixels(image - background, usable)
    return SceneBackground(background, dark, first)


class SceneBackground(NamedTuple):
    """The scene's smooth background (:func:`scene_background`) and the dark pixels it was last fitted on."""

    image: np.ndarray  # (n_rows, n_cols), float64
    dark: np.ndarray  # (n_rows, n_cols), bool
    first_dark: np.ndarray  # the dark pixels found on the image itself, before any background was taken out
