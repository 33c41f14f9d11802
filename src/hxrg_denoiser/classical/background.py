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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.polynomial import legendre

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["column_background", "significant", "BAND_ROWS", "DEGREE", "SIGNIFICANCE"]

BAND_ROWS = 64  # rows fitted together
DEGREE = 5  # highest degree of the polynomial across the columns
CLIP = 5.0  # column means further than this many robust sigmas from the fit are left out (light the mask missed)
SIGNIFICANCE = 5.0  # sigmas of the polynomials' chi-squared above its degrees of freedom: below, no background


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


def _band_fit(means: np.ndarray, counts: np.ndarray, design: np.ndarray, degree: int) -> _BandFit | None:
    """The polynomial coefficients of one band (weighted least squares with clipping) and how far they are
    from zero in units of their own uncertainty, or None where too few columns hold dark pixels."""
    ok = counts > 0
    for _ in range(3):
        if ok.sum() < 4 * design.shape[1]:
            return None
        weights = np.sqrt(counts[ok])
        solution, *_ = np.linalg.lstsq(design[ok] * weights[:, None], means[ok] * weights, rcond=None)
        residual = (means - design @ solution) * np.sqrt(np.maximum(counts, 1))
        spread = 1.4826 * np.median(np.abs(residual[ok] - np.median(residual[ok])))
        keep = ok & (np.abs(residual) <= CLIP * max(spread, 1e-12))
        if keep.sum() == ok.sum():
            break
        ok = keep
    weighted = design[ok] * np.sqrt(counts[ok])[:, None]
    covariance = max(spread, 1e-12) ** 2 * np.linalg.pinv(weighted.T @ weighted)[:degree, :degree]
    a = solution[:degree]
    return _BandFit(a, float(a @ np.linalg.pinv(covariance) @ a), degree)


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
    n_rows, n_cols = geometry.shape
    degree = max(0, min(degree, n_cols // (2 * max(geometry.n_channels, 1)) - 1))
    if degree < 1:
        return np.zeros(geometry.shape)
    design = _design(geometry, degree)
    centres, fits = [], []
    for start in range(0, n_rows, band_rows):
        rows = slice(start, min(start + band_rows, n_rows))
        counts = dark[rows].sum(axis=0).astype(np.float64)
        sums = np.where(dark[rows], image[rows], 0.0).sum(axis=0)
        fit = _band_fit(sums / np.maximum(counts, 1), counts, design, degree)
        if fit is not None:
            centres.append(0.5 * (rows.start + rows.stop - 1))
            fits.append(fit)
    if not fits or not significant(fits):
        return np.zeros(geometry.shape)
    table = np.array([f.coefficients for f in fits])  # bands, degree
    row_coefficients = np.column_stack([np.interp(np.arange(n_rows), centres, table[:, k]) for k in range(degree)])
    return row_coefficients @ design[:, :degree].T
