"""Extraction of echelle spectra along known traces, and the spectral metrics built on it.

Box extraction sums the pixels whose centre lies within ``half_width``
profile sigmas of the trace; optimal extraction (Horne 1986, with the known
Gaussian profile ``P`` normalised to unit integral and uniform variance, the
read-noise-limited case) returns ``sum(P D) / sum(P^2)`` over the same
aperture, which is the order's total flux for a noiseless order. Columns whose aperture
reaches a reference pixel or leaves the array are NaN. The same extraction of
the true scene is the reference: errors are ``extract(estimate) - extract(truth)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hxrg_denoiser.bench.traces import extract_box, extract_box_background_subtracted
from hxrg_denoiser.classical.noise_correlation import column_sum_variance
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.scenes import EchelleOrder

__all__ = ["extract_orders", "extraction_errors", "spectrum_err_calibration", "SpectralMetrics", "spectral_metrics"]


def _aperture(order: EchelleOrder, geometry: ReadoutGeometry, half_width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (n_cols, k), profile weights (n_cols, k) and the valid-column mask of an order's aperture."""
    reach = int(np.ceil(half_width * order.sigma)) + 1
    offsets = np.arange(-reach, reach + 1)
    finite = np.isfinite(order.center)
    centre = np.where(finite, order.center, -1e4)  # columns the trace does not reach are invalid
    rows = np.round(centre).astype(int)[:, None] + offsets[None, :]
    distance = rows - centre[:, None]
    inside = np.abs(distance) <= half_width * order.sigma
    profile = np.exp(-0.5 * (distance / order.sigma) ** 2) * inside
    science = geometry.science_rows
    valid = np.all(~inside | ((rows >= science.start) & (rows < science.stop)), axis=1)
    cols = np.arange(geometry.n_cols)
    valid &= (cols >= geometry.science_cols.start) & (cols < geometry.science_cols.stop)
    return np.clip(rows, 0, geometry.n_rows - 1), np.where(inside, profile, 0.0), valid & finite & inside.any(axis=1)


def _optimal_weights(order: EchelleOrder, profile: np.ndarray) -> np.ndarray:
    """Weights ``w`` of the optimal extraction ``sum(w D)`` of every column of an order's aperture."""
    density = profile / (np.sqrt(2 * np.pi) * order.sigma)  # the profile, normalised over all rows
    return density / np.sum(density**2, axis=1, keepdims=True).clip(1e-12)


def extraction_errors(err: np.ndarray, orders: list[EchelleOrder], geometry: ReadoutGeometry, *,
                      half_width: float = 2.5, var_rnoise: np.ndarray | None = None,
                      rho: Sequence[float] | None = None) -> np.ndarray:
    """1-sigma error of the optimal extraction of every order: ``sqrt(sum(w^2 ERR^2))`` with pixels independent,
    or, given ``var_rnoise`` and ``rho``, with the read noise of pixels a few rows apart correlated
    (:func:`~hxrg_denoiser.classical.noise_correlation.column_sum_variance`).

    Parameters
    ----------
    err : ndarray, shape (n_rows, n_cols)
        Per-pixel 1-sigma errors (electrons over the ramp).
    orders : list of EchelleOrder
    geometry : ReadoutGeometry
    half_width : float
        Aperture half-width in profile sigmas.
    var_rnoise : ndarray, shape (n_rows, n_cols), optional
        The read-noise part of ``err**2``.
    rho : list of float, optional
        Correlation of the read-noise errors of pixels 1, 2, ... rows apart in a column (the product's
        ``RNCORRn`` keywords).

    Returns
    -------
    ndarray, shape (n_orders, n_cols)
        NaN where the extraction is.
    """
    cols = np.arange(geometry.n_cols)[:, None]
    errors = np.full((len(orders), geometry.n_cols), np.nan)
    for i, order in enumerate(orders):
        rows, profile, valid = _aperture(order, geometry, half_width)
        weights = _optimal_weights(order, profile)
        var_total = err[rows, cols].astype(np.float64) ** 2
        if var_rnoise is None or not rho:
            values = np.sqrt(np.sum(weights**2 * var_total, axis=1))
        else:
            values = np.sqrt(column_sum_variance(weights, var_total, var_rnoise[rows, cols].astype(np.float64), rho))
        errors[i, valid] = values[valid]
    return errors


def spectrum_err_calibration(estimate: np.ndarray, err: np.ndarray, truth: np.ndarray, orders: list[EchelleOrder],
                             geometry: ReadoutGeometry, *, var_rnoise: np.ndarray | None = None,
                             rho: Sequence[float] | None = None) -> float | None:
    """Standard deviation of (extracted - true spectrum) / its propagated ERR over every order's columns
    (propagated with the read-noise correlation ``rho`` when given, see :func:`extraction_errors`)."""
    z = (extract_orders(estimate, orders, geometry) - extract_orders(truth, orders, geometry)) / extraction_errors(
        err, orders, geometry, var_rnoise=var_rnoise, rho=rho)
    z = z[np.isfinite(z)]
    return float(np.std(z)) if z.size else None


def extract_orders(
    image: np.ndarray,
    orders: list[EchelleOrder],
    geometry: ReadoutGeometry,
    *,
    method: str = "optimal",
    half_width: float = 2.5,
) -> np.ndarray:
    """Extract every order of ``image``.

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
        Electrons over the ramp.
    orders : list of EchelleOrder
    geometry : ReadoutGeometry
    method : {"box", "optimal"}
    half_width : float
        Aperture half-width in profile sigmas.

    Returns
    -------
    ndarray, shape (n_orders, n_cols)
        Electrons per column; NaN where the aperture is not all science pixels.
    """
    if method not in ("box", "optimal"):
        raise ValueError(f"method must be 'box' or 'optimal', got {method!r}")
    cols = np.arange(geometry.n_cols)[:, None]
    spectra = np.full((len(orders), geometry.n_cols), np.nan)
    for i, order in enumerate(orders):
        rows, profile, valid = _aperture(order, geometry, half_width)
        pixels = image[rows, cols].astype(np.float64)
        if method == "box":
            values = np.sum(pixels * (profile > 0), axis=1)
        else:
            values = np.sum(_optimal_weights(order, profile) * pixels, axis=1)
        spectra[i, valid] = values[valid]
    return spectra


class SpectralMetrics(NamedTuple):
    """Errors of extracted spectra against the extraction of the truth.

    Attributes
    ----------
    spectrum_rms : float
        RMS of optimal-extraction error over all order columns, electrons.
    spectrum_rms_box : float
        The same with box extraction.
    flux_conservation : float
        Largest ``|sum(extracted) / sum(true) - 1|`` over orders (box extraction).
    line_depth_bias : float
        Relative error of absorption-line depths: ``sum(true - estimated) /
        sum(continuum - true)`` over line-core columns; negative means lines
        made shallower.
    spectrum_rms_box7 : float
        RMS error of a 7-row box extraction, electrons.
    spectrum_rms_bgsub : float
        The same after local background subtraction (side bands 5-8 rows off
        the trace, smoothed along the order), as users extract.
    """

    spectrum_rms: float
    spectrum_rms_box: float
    flux_conservation: float
    line_depth_bias: float
    spectrum_rms_box7: float = float("nan")
    spectrum_rms_bgsub: float = float("nan")


def spectral_metrics(
    estimate: np.ndarray, truth: np.ndarray, orders: list[EchelleOrder], geometry: ReadoutGeometry
) -> SpectralMetrics:
    """Spectral metrics of ``estimate`` given the true scene and its orders."""
    optimal = extract_orders(estimate, orders, geometry) - extract_orders(truth, orders, geometry)
    box_est = extract_orders(estimate, orders, geometry, method="box")
    box_true = extract_orders(truth, orders, geometry, method="box")
    box_error = box_est - box_true
    ratios = []
    for est, true in zip(box_est, box_true):
        valid = np.isfinite(true) & np.isfinite(est)
        if valid.sum() > 0.5 * geometry.n_cols and true[valid].sum() > 0:
            ratios.append(est[valid].sum() / true[valid].sum() - 1.0)
    lost, depth = 0.0, 0.0
    for order, est, true in zip(orders, box_est, box_true):
        with np.errstate(divide="ignore", invalid="ignore"):
            aperture_fraction = true / order.spectrum
            continuum = order.continuum * aperture_fraction
            line_core = (order.spectrum < 0.8 * order.continuum) & np.isfinite(true) & np.isfinite(est)
        line_core &= np.isfinite(continuum) & (order.spectrum > 0)
        lost += np.sum(true[line_core] - est[line_core])
        depth += np.sum(continuum[line_core] - true[line_core])
    box7 = extract_box(estimate, orders, geometry) - extract_box(truth, orders, geometry)
    bgsub = (extract_box_background_subtracted(estimate, orders, geometry)
             - extract_box_background_subtracted(truth, orders, geometry))
    return SpectralMetrics(
        spectrum_rms=_rms(optimal),
        spectrum_rms_box=_rms(box_error),
        flux_conservation=float(np.max(np.abs(ratios))) if ratios else float("nan"),
        line_depth_bias=float(lost / depth) if depth > 0 else float("nan"),
        spectrum_rms_box7=_rms(box7),
        spectrum_rms_bgsub=_rms(bgsub),
    )


def _rms(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(values**2))) if values.size else float("nan")
