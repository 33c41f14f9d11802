"""The scene's smooth background that a correlated-noise correction keeps, and the test that tells it from noise.

A sky, scattered light or extended emission is continuous across channel boundaries, where read noise steps:
:func:`~hxrg_denoiser.classical.background.column_background` finds what is smooth across the columns, and
:func:`~hxrg_denoiser.classical.background.row_fit` a level along the rows shared by every column. Both are
taken out before the cleaning (or a network) estimates the correlated noise, and given back after.

Some read noise has the same shapes: a picture frame, a pattern that every read carries with a new amplitude
(NGHXRG's darks have one), the common mode's slow part along the rows. A scene's background accumulates
charge at a steady rate, so it is the same when segments of the ramp are fitted apart, and such noise is
not: :func:`background_evidence` and :func:`row_evidence` compare them, and :func:`smooth_background` keeps
each part in proportion (:func:`kept_fraction`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from hxrg_denoiser.classical.background import BAND_ROWS, DEGREE, band_fits, lit_pixels, row_fit, scene_background
from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["RampSegments", "KeptBackground", "smooth_background", "background_evidence", "row_evidence",
           "kept_fraction", "segment_weights", "segment_deviations", "KEPT_ROW_DEGREE"]

KEPT_ROW_DEGREE = 3  # degrees 1 .. 3 of the level along the rows (its constant is the cleaning's baseline's)


class RampSegments(NamedTuple):
    """The same exposure fitted on consecutive segments of its reads, each a flux of the whole ramp (the
    units of the full fit), and the number of reads in each."""

    images: list[np.ndarray]
    n_reads: list[int]


def _utr_variance(n_reads: int) -> float:
    """Variance of an up-the-ramp slope over ``n_reads`` equally spaced reads, white noise of unit variance and
    unit spacing, up to a constant: ``1 / (n (n^2 - 1))``."""
    return 1.0 / (n_reads * (n_reads**2 - 1.0))


def segment_weights(n_reads: list[int]) -> np.ndarray:
    """Each segment's weight, the inverse of its slope's white-noise variance relative to the full ramp's
    (segments of ``n_reads`` reads, consecutive, fitted up the ramp), shape ``(segments,)``."""
    relative = np.array([_utr_variance(m) for m in n_reads]) / _utr_variance(sum(n_reads))
    return 1.0 / relative


def segment_deviations(parts: list[np.ndarray], n_reads: list[int]) -> np.ndarray:
    """The segments' weighted squared deviations from their weighted mean, summed over the segments, element by
    element (float64, the shape of one part); over ``segments - 1`` it is the noise's power in the full ramp's
    figure (each segment weighed by :func:`segment_weights`)."""
    stacked = np.stack(parts).astype(np.float64, copy=False)  # segments, ...
    weights = segment_weights(n_reads).reshape((-1,) + (1,) * (stacked.ndim - 1))
    mean = np.sum(weights * stacked, axis=0) / np.sum(weights)
    return np.sum(weights * (stacked - mean) ** 2, axis=0)


def _evidence(full: np.ndarray, parts: list[np.ndarray], n_reads: list[int]) -> float:
    """Mean square of ``full``'s coefficients over the noise's power in them, measured by the scatter of the
    segments' coefficients (``parts``) about their weighted mean, each scaled to the full ramp."""
    noise = float(np.mean(segment_deviations(parts, n_reads)) / (len(parts) - 1))
    signal = float(np.mean(full**2))
    return signal / noise if noise > 0 else float("inf")


def background_evidence(image: np.ndarray, segments: RampSegments, dark: np.ndarray, geometry: ReadoutGeometry, *,
                        band_rows: int = BAND_ROWS, degree: int = DEGREE) -> float:
    """How many times the power of the image's smooth background across the columns exceeds what noise would
    give it, ``F``.

    The polynomial coefficients of :func:`~hxrg_denoiser.classical.background.band_fits` are fitted on the
    image and on every segment with the same dark pixels; the segments' scatter about their weighted mean,
    each scaled to the full ramp (for noise white from read to read a segment of ``m`` reads has
    ``v(m) / v(n)`` times the full ramp's variance, ``v(n) = 1 / (n (n^2 - 1))``), measures the noise's power
    in the image's coefficients; ``F`` is their mean square over it. For noise alone it follows an F
    distribution with 1 and ``segments - 1`` degrees of freedom per independent pattern; a sky gradient's is
    10 to 10^4 (``benchmarks/keep_background.py``).

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
    return _evidence(full, parts, segments.n_reads)


def row_evidence(image: np.ndarray, segments: RampSegments, dark: np.ndarray,
                 degree: int = KEPT_ROW_DEGREE) -> float:
    """:func:`background_evidence` for the level along the rows (:func:`~hxrg_denoiser.classical.background.row_fit`,
    degrees 1 .. ``degree``); NaN where it cannot be fitted on the image and every segment."""
    found = [row_fit(x, dark, degree) for x in (image, *segments.images)]
    fitted = [f.coefficients[1:] for f in found if f is not None]
    if len(fitted) < len(found):
        return float("nan")
    return _evidence(fitted[0], fitted[1:], segments.n_reads)


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
        What is kept: the background across the columns times ``fraction`` plus the level along the rows
        (without its constant) times ``row_fraction``; zero off the science pixels.
    fraction, row_fraction : float
        Share of each part found that is kept (:func:`kept_fraction`; 1.0 where it was not tested, 0.0 where
        none was found).
    evidence, row_evidence : float or None
        Their power over the noise's (:func:`background_evidence`, :func:`row_evidence`), None where not tested.
    """

    image: np.ndarray
    fraction: float
    evidence: float | None
    row_fraction: float = 0.0
    row_evidence: float | None = None


def smooth_background(image: np.ndarray, geometry: ReadoutGeometry, lit_sigma: float = 2.0, *,
                      segments: Callable[[], RampSegments | None] | None = None,
                      row_degree: int | None = KEPT_ROW_DEGREE) -> KeptBackground:
    """The scene's smooth background that a correlated-noise correction keeps (see the module description).

    Across the columns: :func:`~hxrg_denoiser.classical.background.scene_background` without a row trend, on
    the pixels that :func:`~hxrg_denoiser.classical.background.lit_pixels` leaves dark (zero where it is not
    significant: a flat sky). Along the rows: the level of the dark pixels of what is left, degrees 1 ..
    ``row_degree`` (None: none). ``segments``: the exposure fitted on segments of its reads (called once, only
    where a background is found); each part is then weighted by how clearly it accumulates like charge rather
    than changes like noise. Without segments the background across the columns is kept whole where
    significant, and no level along the rows (nothing tells it from the common mode's slow part).
    """
    science = ~geometry.reference_mask & np.isfinite(image)

    def dark_pixels(residual: np.ndarray, usable: np.ndarray) -> np.ndarray:
        return usable & ~lit_pixels(residual, usable, lit_sigma)

    work = np.where(science, image, 0.0).astype(np.float64)
    scene = scene_background(work, science, geometry, dark_pixels, row_degree=None)  # zero off the science pixels
    found = scene.image
    # with no background its mask is already that of the image itself (a flat sky: no second lit-pixel pass)
    dark = dark_pixels(work - found, science) if found.any() else scene.dark
    # the level along the rows has no significance test of its own: only segments can tell it from the common mode
    rows = row_fit(work - found, dark, row_degree) if row_degree is not None and segments is not None else None
    trend = np.zeros((geometry.n_rows, 1)) if rows is None else rows.trend(constant=False)
    if not found.any() and rows is None:
        return KeptBackground(found, 0.0, None)
    split = segments() if segments is not None else None
    if split is None:
        kept = found + np.where(science, trend, 0.0)
        return KeptBackground(kept, 1.0 if found.any() else 0.0, None, 1.0 if rows is not None else 0.0, None)
    evidence = background_evidence(work, split, dark, geometry) if found.any() else None
    fraction = kept_fraction(evidence) if evidence is not None else 0.0
    residuals = RampSegments([np.where(science, x, 0.0) - found for x in split.images], split.n_reads)
    rows_evidence = row_evidence(work - found, residuals, dark, row_degree) if rows is not None and row_degree else None
    row_fraction = kept_fraction(rows_evidence) if rows_evidence is not None else 0.0
    kept = found * fraction + np.where(science, trend * row_fraction, 0.0)
    return KeptBackground(kept, fraction, evidence, row_fraction, rows_evidence)
