"""The error model of a flux image: photon noise from the neighbours' flux, read noise scaled to the
image's own dark pixels and their column correlation, and the errors of a network's output."""

from __future__ import annotations

import functools

import numpy as np

from hxrg_denoiser.classical.background import SceneBackground, scene_background
from hxrg_denoiser.classical.estimators import noise_terms, ols_weights
from hxrg_denoiser.classical.noise_correlation import (
    ReadNoiseStatistics,
    light_free_pixels,
    near_light_correlation,
    plateau_light,
    read_noise_statistics,
)
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import ErrorCalibration
from hxrg_denoiser.stats import mad_sigma

__all__ = ["poisson_flux", "calibrated_errors", "input_covariance", "network_errors"]


def _neighbour_quadratic_kernel() -> np.ndarray:
    """5 x 5 weights that give a pixel's value from a least-squares quadratic surface
    ``a + b x + c y + d x^2 + e y^2 + f x y`` fitted to its 24 neighbours (the pixel itself has weight 0)."""
    y, x = (offsets.ravel() for offsets in np.mgrid[-2:3, -2:3])
    neighbours = (x != 0) | (y != 0)
    x, y = x[neighbours], y[neighbours]
    basis = np.stack([np.ones_like(x), x, y, x**2, y**2, x * y], axis=1).astype(np.float64)
    kernel = np.zeros(25)
    kernel[neighbours] = np.linalg.pinv(basis)[0]
    return kernel.reshape(5, 5).astype(np.float32)


_NEIGHBOUR_QUADRATIC = _neighbour_quadratic_kernel()


def poisson_flux(slope: np.ndarray, white_sigma: np.ndarray) -> np.ndarray:
    """The flux (per frame) whose photon noise enters the error: a quadratic surface fitted to the 24
    neighbours of each pixel and read at the pixel, kept within 2 sigma of the pixel's own slope, >= 0.

    A pixel's own slope would make its error grow with its noise (a dark pixel read high gets a larger
    error than one read low, and normalised residuals shrink); the neighbours' fit has none of it. A plain
    5 x 5 mean would be less noisy, but it lowers the peak of anything narrower than the window (the centre
    of an echelle order of sigma 1.5 rows to 0.69 of its flux) and raises its wings, so that optimally
    extracted spectra, which weight the centre most, get errors too small; the quadratic keeps 0.96 of that
    peak. The +-2 sigma bound around the pixel's own slope keeps the error of a sharp bright peak (a star)
    and of a dark pixel beside a bright one.

    Parameters
    ----------
    slope : ndarray, shape (rows, cols)
        Electrons per frame (NaN where there is none).
    white_sigma : ndarray, shape (rows, cols)
        The slope's read-noise sigma.

    Returns
    -------
    ndarray, shape (rows, cols), float32
        Electrons per frame.
    """
    from scipy.ndimage import correlate

    # in place, one full-size array at a time besides the result (a full frame: 67 MB each)
    finite = np.nan_to_num(slope.astype(np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    local = correlate(finite, _NEIGHBOUR_QUADRATIC, mode="nearest")
    margin = np.nan_to_num(np.asarray(white_sigma, dtype=np.float32), copy=True)
    margin *= 2.0
    lower = finite - margin
    np.maximum(local, lower, out=local)  # the lower bound, then the upper: np.clip's order
    del lower
    finite += margin
    np.minimum(local, finite, out=local)
    return np.maximum(local, 0.0, out=local)


# Degrees of the scene's background taken out before the read noise is measured on dark pixels
# (:func:`~hxrg_denoiser.classical.background.scene_background`): across the columns, and of the level along the rows.
BACKGROUND_DEGREE = 9
BACKGROUND_ROW_DEGREE = 3


def _background(sci: np.ndarray, usable: np.ndarray, geometry: ReadoutGeometry,
                light_image: np.ndarray | None = None) -> SceneBackground:
    """The scene's smooth background and the dark pixels, found where the light is (``light_image``, else ``sci``);
    zero where it stays within a tenth of the dark pixels' spread (its share of their variance under 1 %)."""
    image = sci if light_image is None else light_image
    usable = usable & np.isfinite(image)
    # the pixels' own spread, from neighbours' differences (which a smooth scene does not reach)
    pairs = usable[:, 1:] & usable[:, :-1]
    differences = np.diff(image, axis=1)[pairs][:: max(1, int(pairs.sum()) // 200_000)]
    negligible = 0.1 * float(mad_sigma(differences)) / np.sqrt(2.0) if differences.size else 0.0
    dark_pixels = functools.partial(light_free_pixels, channel_width=geometry.channel_width)
    found = scene_background(image, usable, geometry, dark_pixels, degree=BACKGROUND_DEGREE,
                             row_degree=BACKGROUND_ROW_DEGREE, negligible=negligible)
    # dark both on the image and on the image less its background: the second mask's light threshold is set on
    # a flattened image and may take in faint wings (on a jwst-h2rg imaging field the oracle's RNSCALE went
    # 1.26 -> 1.19 with both, benchmarks/err_on_gradients.py); what made --clean's ERR too large on a star field
    # was the background itself, which _statistics guards against
    found = found._replace(dark=found.dark & found.first_dark)
    if light_image is not None:  # a uniform light over whole rows the cleaned copy took for row noise
        lit = plateau_light(sci, usable & np.isfinite(sci), channel_width=geometry.channel_width)
        if lit is not None:
            found = found._replace(dark=found.dark & ~lit, first_dark=found.first_dark & ~lit)
    return found


def _statistics(sci: np.ndarray, var_rnoise: np.ndarray, var_poisson: np.ndarray | None, usable: np.ndarray,
                geometry: ReadoutGeometry, light_image: np.ndarray | None = None) -> ReadNoiseStatistics | None:
    """:func:`read_noise_statistics` on the dark pixels less the scene's background, unless that shows them
    more scattered than the image itself does: a background that adds scatter is not the scene's (on
    bench-v1's star field after ``--clean`` it raised RNSCALE from 0.63 to 0.91, ERR 14 % too large)."""
    found = _background(sci, usable, geometry, light_image)
    plain = read_noise_statistics(sci, var_rnoise, var_poisson, usable, light_image=light_image, dark=found.first_dark)
    if not found.image.any():
        return plain
    flattened = read_noise_statistics(sci, var_rnoise, var_poisson, usable, light_image=light_image,
                                      background=found.image, dark=found.dark)
    if flattened is None or (plain is not None and plain.scale < flattened.scale):
        return plain
    return flattened


def input_covariance(sci: np.ndarray, var_poisson: np.ndarray | None, var_rnoise: np.ndarray, dq: np.ndarray,
                     geometry: ReadoutGeometry) -> list[float] | None:
    """Covariance of the read-noise errors of an image's dark pixels 1 .. 8 rows apart in a column, before a
    method removes its correlated noise (``covariance_before`` of :func:`calibrated_errors`); None where too
    few pixels are dark."""
    usable = ~geometry.reference_mask & (dq == 0)
    stats = _statistics(sci, var_rnoise, var_poisson, usable, geometry)
    return stats.covariance if stats is not None else None


def calibrated_errors(sci: np.ndarray, var_poisson: np.ndarray, var_rnoise: np.ndarray, dq: np.ndarray,
                      geometry: ReadoutGeometry, *, lit_read_scale: float = 1.0, lit_covariance_fraction: float = 0.0,
                      covariance_before: list[float] | None = None,
                      light_image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, ErrorCalibration]:
    """ERR and VAR_RNOISE with the read-noise variance scaled to what the image's dark pixels show, and the
    column correlation of its errors.

    Parameters
    ----------
    sci, var_poisson, var_rnoise : ndarray, shape (n_rows, n_cols)
        Flux, predicted photon and read-noise variances (units and units squared).
    dq : ndarray, shape (n_rows, n_cols)
        Only pixels without flags are measured.
    geometry : ReadoutGeometry
    lit_read_scale : float
        Read-noise variance of the pixels near detected light over that of the dark pixels the scale is
        measured on, for a method that estimates the correlated noise from the image's dark pixels (each
        of which then enters its own estimate and loses some of its error, which lit pixels do not):
        measured for ``--clean`` and stored with flux-image models (``benchmarks/calibrate_lit_errors.py``).
        Applied only where the scale is measured.
    lit_covariance_fraction : float
        Fraction of the input's correlated read-noise covariance that such a method leaves in the pixels
        near light, correlated from row to row (where no dark pixel was read at the same time, the
        correlated noise is bridged from neighbouring readout times, and the bridge's error is shared by
        the rows it spans): measured as ``lit_read_scale`` is.
    covariance_before : list of float, optional
        Covariance of the read-noise errors of the input's dark pixels 1 .. 8 rows apart in a column
        (:attr:`~hxrg_denoiser.classical.noise_correlation.ReadNoiseStatistics.covariance` of the image
        before the correlated noise was removed; the units of ``sci``, squared).
    light_image : ndarray, shape (n_rows, n_cols), optional
        The same scene with less correlated noise, to find the light on (see
        :func:`~hxrg_denoiser.classical.noise_correlation.read_noise_statistics`).

    Returns
    -------
    err, var_rnoise : ndarray, shape (n_rows, n_cols), float32
    calibration : ErrorCalibration
        ``read_noise_scale`` (applied; 1.0 where too few pixels are dark), ``read_noise_lit_scale``
        (applied) and ``read_noise_correlation`` (``rho(1 .. 8)`` or None), from
        :func:`~hxrg_denoiser.classical.noise_correlation.read_noise_statistics`; with a covariance
        fraction and the covariance before, ``read_noise_lit_correlation``: the correlation of the
        read-noise errors of pixels near light, ``rho(l) + fraction * covariance_before(l) / VAR_RNOISE``
        (the median ``VAR_RNOISE`` of those pixels), to propagate an extraction's error with.
    """
    usable = ~geometry.reference_mask & (dq == 0)
    stats = _statistics(sci, var_rnoise, var_poisson, usable, geometry, light_image)
    lit_scale = 1.0
    if stats is not None:
        var_rnoise = (var_rnoise * np.float32(stats.scale)).astype(np.float32)
        if lit_read_scale != 1.0:
            lit_scale = float(lit_read_scale)
            var_rnoise[~stats.dark] *= np.float32(lit_scale)
    err = np.sqrt(var_poisson + var_rnoise).astype(np.float32)
    lit_correlation = None
    near_light = usable & ~stats.dark & np.isfinite(var_rnoise) if stats is not None else None
    if lit_covariance_fraction > 0 and covariance_before and near_light is not None and near_light.any():
        lit_correlation = tuple(near_light_correlation(
            stats.rho, covariance_before, lit_covariance_fraction,  # type: ignore[union-attr]
            float(np.median(var_rnoise[near_light]))))
    calibration = ErrorCalibration(stats.scale if stats else 1.0, lit_scale,
                                   tuple(stats.rho) if stats else None, lit_correlation)
    return err, var_rnoise, calibration


def network_errors(sci: np.ndarray, dq: np.ndarray, geometry: ReadoutGeometry, *, n_reads: int, label_reads: int,
                   white_read_noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, ErrorCalibration]:
    """ERR, VAR_POISSON and VAR_RNOISE of a flux image that a network predicted from the reads.

    A network that takes the reads has no noise model of its own; its error is taken as that of the
    up-the-ramp fit of the same ``n_reads`` reads with the correlated noise removed (photon noise of the
    local flux, :func:`poisson_flux`, plus the white read noise), with the read-noise part then scaled
    to what the image's own dark pixels show (:func:`calibrated_errors`).

    Parameters
    ----------
    sci : ndarray, shape (n_rows, n_cols)
        The network's flux, electrons over ``label_reads`` frames (NaN where none).
    dq : ndarray, shape (n_rows, n_cols)
    geometry : ReadoutGeometry
    n_reads : int
        Reads the network took.
    label_reads : int
        Frames the flux is expressed over.
    white_read_noise : float
        Electrons per read (:func:`ramp_read_noise`).

    Returns
    -------
    err, var_poisson, var_rnoise : ndarray, shape (n_rows, n_cols), float32
        Electrons and electrons squared (NaN where ``sci`` is).
    calibration : ErrorCalibration
        See :func:`calibrated_errors`.
    """
    white, poisson = noise_terms(ols_weights(n_reads))
    scale = np.float32(label_reads)
    var_rnoise = np.full(sci.shape, white_read_noise**2 * white * scale**2, dtype=np.float32)
    per_frame = sci / scale
    var_poisson = (poisson_flux(per_frame, np.sqrt(var_rnoise) / scale) * np.float32(poisson * scale**2)).astype(
        np.float32)
    missing = ~np.isfinite(sci)
    var_poisson[missing] = np.nan
    var_rnoise[missing] = np.nan
    err, var_rnoise, calibration = calibrated_errors(sci, var_poisson, var_rnoise, dq, geometry)
    return err, var_poisson, var_rnoise, calibration
