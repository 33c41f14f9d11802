"""Classical flux estimators on up-the-ramp cubes.

Every estimator takes a cube of shape ``(n_reads, ...)`` (reads first, any
pixel shape after) and returns the *slope*: signal accumulated per frame
interval, in the cube's units. Sums over reads are done read by read, so each
pixel's result depends only on its own ramp, bit for bit, whatever the size of
the array around it.

Conventions: reads are equally spaced by one frame time; read ``k`` (from 0)
holds ``(k + 1)`` frame intervals of signal, as in the simulator and in the
training labels of Payeur et al. (2022), so the flux accumulated over the ramp
is ``slope * n_reads``.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.stats import robust_sigma

__all__ = [
    "cds_weights",
    "fowler_weights",
    "ols_weights",
    "weighted_read_sum",
    "cds_slope",
    "fowler_slope",
    "utr_slope",
    "linear_slope_variance",
    "noise_terms",
    "optimal_utr_terms",
    "estimate_white_read_noise",
    "dark_pixels",
    "gls_difference_weights",
    "optimal_utr_slope",
    "estimate_read_noise",
]


def weighted_read_sum(cube: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return ``sum_k weights[k] * cube[k]`` in float32, accumulated read by read.

    Parameters
    ----------
    cube : ndarray, shape (n_reads, ...)
    weights : ndarray, shape (n_reads,)
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (cube.shape[0],):
        raise ValueError(f"{weights.shape[0]} weights for {cube.shape[0]} reads")
    out = np.zeros(cube.shape[1:], dtype=np.float32)
    for k, w in enumerate(weights):
        if w != 0:
            out += w * np.asarray(cube[k], dtype=np.float32)
    return out


def cds_weights(n_reads: int) -> np.ndarray:
    """Read weights of correlated double sampling: ``(last - first) / (n_reads - 1)``."""
    _check_reads(n_reads)
    weights = np.zeros(n_reads)
    weights[0], weights[-1] = -1.0 / (n_reads - 1), 1.0 / (n_reads - 1)
    return weights


def fowler_weights(n_reads: int, n_fowler: int) -> np.ndarray:
    """Read weights of Fowler-k sampling: mean of the last ``k`` reads minus mean of the first ``k``, per frame.

    ``k`` must lie between 1 and ``n_reads // 2``.
    """
    _check_reads(n_reads)
    if not 1 <= n_fowler <= n_reads // 2:
        raise ValueError(f"Fowler number {n_fowler} must be between 1 and {n_reads // 2} for {n_reads} reads")
    weights = np.zeros(n_reads)
    scale = 1.0 / (n_fowler * (n_reads - n_fowler))
    weights[:n_fowler] = -scale
    weights[-n_fowler:] = scale
    return weights


def ols_weights(n_reads: int) -> np.ndarray:
    """Least-squares slope weights ``w_t = (t - mean t) / sum (t - mean t)^2``, shape ``(n_reads,)``."""
    _check_reads(n_reads)
    t = np.arange(n_reads, dtype=np.float64)
    centred = t - t.mean()
    return centred / np.sum(centred**2)


def cds_slope(cube: np.ndarray) -> np.ndarray:
    """Correlated double sampling slope of each pixel of ``cube``, shape ``(n_reads, ...)``."""
    return weighted_read_sum(cube, cds_weights(cube.shape[0]))


def fowler_slope(cube: np.ndarray, n_fowler: int) -> np.ndarray:
    """Fowler-``n_fowler`` slope of each pixel of ``cube``, shape ``(n_reads, ...)``."""
    return weighted_read_sum(cube, fowler_weights(cube.shape[0], n_fowler))


def utr_slope(cube: np.ndarray) -> np.ndarray:
    """Up-the-ramp ordinary least-squares slope of each pixel of ``cube``, shape ``(n_reads, ...)``."""
    return weighted_read_sum(cube, ols_weights(cube.shape[0]))


def linear_slope_variance(weights: np.ndarray, read_noise: float, slope: np.ndarray) -> np.ndarray:
    """Variance of a slope ``sum_k weights[k] R_k`` for white read noise plus Poisson accumulation.

    With read noise ``s`` and flux ``f`` per frame, ``cov(R_i, R_j) = s^2 delta_ij
    + f (min(i, j) + 1)``; for weights that sum to zero the variance is
    ``s^2 sum w^2 + f w^T min(i, j) w``.

    Parameters
    ----------
    weights : ndarray, shape (n_reads,)
        Read weights summing to zero.
    read_noise : float
        Read noise per read, electrons.
    slope : ndarray
        Estimated slope, electrons per frame; negative values count as zero
        for the Poisson term.

    Returns
    -------
    ndarray
        Variance of the slope, electrons^2 per frame^2, float32.
    """
    white, poisson = noise_terms(weights)
    return (read_noise**2 * white + np.maximum(slope, 0.0) * poisson).astype(np.float32)


def noise_terms(weights: np.ndarray) -> tuple:
    """``(W, P)`` of read weights: a slope's variance is ``s^2 W + flux P`` (see :func:`linear_slope_variance`).

    Parameters
    ----------
    weights : ndarray, shape (n_reads,) or (n_reads, n_pixels)
        One set of read weights, or one per pixel.

    Returns
    -------
    W, P : float, or ndarray of shape (n_pixels,)
    """
    weights = np.asarray(weights, dtype=np.float64)
    idx = np.arange(weights.shape[0])
    white = np.sum(weights**2, axis=0)
    poisson = np.sum(weights * (np.minimum.outer(idx, idx) @ weights), axis=0)
    if weights.ndim == 1:
        return float(white), float(poisson)
    return white, poisson


def _check_reads(n_reads: int) -> None:
    if n_reads < 2:
        raise ValueError(f"a slope needs at least 2 reads, got {n_reads}")


# Grid of flux / read_noise^2 ratios (per frame) on which optimal weights are tabulated.
_RATIO_GRID = np.concatenate([[0.0], np.logspace(-4, 4, 81)])


@lru_cache(maxsize=64)
def gls_difference_weights(n_reads: int) -> tuple[np.ndarray, np.ndarray]:
    """Generalised least-squares read weights on a grid of flux-to-read-noise ratios.

    Read differences ``d_k = R_{k+1} - R_k`` have covariance
    ``s^2 (rho I + T)`` with ``rho = flux / s^2`` (Poisson) and ``T``
    tridiagonal (2 on the diagonal, -1 beside it: white read noise). The best
    linear unbiased slope is ``1^T C^-1 d / 1^T C^-1 1``.

    Returns
    -------
    read_weights : ndarray, shape (n_grid, n_reads)
        Weights on the reads (not the differences) for each grid ratio.
    unit_variance : ndarray, shape (n_grid,)
        Slope variance for ``s = 1``.
    """
    m = n_reads - 1
    tridiag = 2.0 * np.eye(m) - np.eye(m, k=1) - np.eye(m, k=-1)
    weights = np.empty((_RATIO_GRID.size, n_reads))
    variance = np.empty(_RATIO_GRID.size)
    for i, rho in enumerate(_RATIO_GRID):
        solved = np.linalg.solve(rho * np.eye(m) + tridiag, np.ones(m))
        norm = solved.sum()
        diff_weights = solved / norm
        weights[i] = np.concatenate([[0.0], diff_weights]) - np.concatenate([diff_weights, [0.0]])
        variance[i] = 1.0 / norm
    return weights, variance


@lru_cache(maxsize=64)
def gls_noise_terms(n_reads: int) -> tuple[np.ndarray, np.ndarray]:
    """``W`` and ``P`` (:func:`noise_terms`) of the tabulated optimal weights, one per grid ratio."""
    table, _ = gls_difference_weights(n_reads)
    terms = np.array([noise_terms(row) for row in table])
    return terms[:, 0].copy(), terms[:, 1].copy()


def optimal_utr_terms(cube: np.ndarray, read_noise: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`optimal_utr_slope` with its variance split: slope, ``W`` and ``P`` per pixel (variance
    ``read_noise^2 W + flux P``)."""
    slope, nearest = _optimal_slope(cube, read_noise)
    white, poisson = gls_noise_terms(cube.shape[0])
    return slope, white[nearest].astype(np.float32), poisson[nearest].astype(np.float32)


def optimal_utr_slope(cube: np.ndarray, read_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Up-the-ramp slope with weights optimal for read noise plus Poisson noise.

    A first OLS pass estimates each pixel's flux; the pixel then takes the
    generalised least-squares weights tabulated for the nearest ratio
    ``flux / read_noise^2`` (81 log-spaced values per decade set).

    Parameters
    ----------
    cube : ndarray, shape (n_reads, ...)
        Electrons.
    read_noise : float
        White read noise per read, electrons (> 0).

    Returns
    -------
    slope, variance : ndarray
        Electrons per frame and its variance.
    """
    slope, nearest = _optimal_slope(cube, read_noise)
    _, unit_variance = gls_difference_weights(cube.shape[0])
    variance = (unit_variance[nearest] * read_noise**2).astype(np.float32)
    return slope, variance


def _optimal_slope(cube: np.ndarray, read_noise: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The optimal slope and, per pixel, the index of the grid ratio whose weights it took."""
    if np.any(np.asarray(read_noise) <= 0):
        raise ValueError("read_noise must be > 0 for optimal weighting")
    n = cube.shape[0]
    table, _ = gls_difference_weights(n)
    first = utr_slope(cube)
    ratio = np.maximum(first, 0.0) / read_noise**2
    log_grid = np.log10(_RATIO_GRID[1:])
    with np.errstate(divide="ignore"):
        nearest = np.searchsorted((log_grid[1:] + log_grid[:-1]) / 2, np.log10(ratio)) + 1
    nearest[ratio < _RATIO_GRID[1] / 2] = 0
    columns = table.astype(np.float32).T  # (n_reads, n_grid): read k's weight for every grid ratio
    slope = np.zeros(first.shape, dtype=np.float32)
    weight = np.empty(first.shape, dtype=np.float32)
    for k in range(n):  # read by read: each pixel's weight for read k, looked up in the small table
        np.take(columns[k], nearest, out=weight)
        weight *= cube[k]
        slope += weight
    return slope, nearest


def estimate_white_read_noise(cube: np.ndarray, geometry: ReadoutGeometry, usable: np.ndarray | None = None) -> float:
    """White read noise per read, free of the noise that pixels read close in time share.

    Second differences in time, ``R_{k+2} - 2 R_{k+1} + R_k`` (which cancel a constant flux), are put in
    readout order; within a channel, the difference of two pixels two steps apart (same column parity)
    cancels the channel's slow 1/f noise and the alternating column noise; the difference of that
    between two neighbouring channels (read at the same instants) cancels the common mode exactly. The
    result has variance ``24 s^2`` for white noise ``s`` (``12 s^2`` with a single channel, where only
    the first difference is made).

    Parameters
    ----------
    cube : ndarray, shape (n_reads, rows, n_cols)
        At least 3 reads of whole rows.
    geometry : ReadoutGeometry
        The readout (rows may differ).
    usable : ndarray of bool, shape (rows, n_cols), optional
        Pixels to use (e.g. :func:`dark_pixels`, science pixels only); a difference needs all four of its
        pixels. Ignored when fewer than 1000 differences remain.
    """
    if cube.shape[0] < 3:
        raise ValueError("estimating the read noise needs at least 3 reads")
    second = geometry.to_readout_order(np.diff(np.asarray(cube, dtype=np.float32), n=2, axis=0))
    lagged = second[..., 2:] - second[..., :-2]  # (reads, rows, channels, width - 2)
    ok = None
    if usable is not None:
        mask = geometry.to_readout_order(usable)
        ok = mask[..., 2:] & mask[..., :-2]
    if geometry.n_channels > 1:
        lagged = lagged[:, :, 1:] - lagged[:, :, :-1]
        ok = None if ok is None else ok[:, 1:] & ok[:, :-1]
        factor = 24.0
    else:
        factor = 12.0
    if ok is not None and ok.sum() >= _FEWEST_DARK_PIXELS:
        return robust_sigma(_evenly_thinned(lagged[:, ok])) / np.sqrt(factor)
    return robust_sigma(_evenly_thinned(lagged)) / np.sqrt(factor)


_FEWEST_DARK_PIXELS = 1000
_MOST_VALUES = 1 << 21  # a robust sigma of 2 million values is known to 0.1 %; more only costs time


def _evenly_thinned(values: np.ndarray) -> np.ndarray:
    """At most :data:`_MOST_VALUES` of ``values``, every k-th of the flattened array (deterministic)."""
    flat = values.reshape(-1)
    step = -(-flat.size // _MOST_VALUES)
    return flat[::step] if step > 1 else flat


def dark_pixels(cube: np.ndarray, read_noise: float) -> np.ndarray:
    """Pixels whose photon noise adds less than a tenth to the variance of their second differences.

    A second difference has variance ``6 s^2 + 2 flux`` (flux per frame): pixels with
    ``flux < 0.3 s^2`` (first to last read) are the ones from which a read-noise estimate is not biased
    by the scene.
    """
    flux = (np.asarray(cube[-1], dtype=np.float32) - cube[0]) / max(cube.shape[0] - 1, 1)
    return flux < 0.3 * read_noise**2


def estimate_read_noise(cube: np.ndarray) -> float:
    """Robust white read noise per read from the second differences of each ramp.

    ``R_{k+2} - 2 R_{k+1} + R_k`` cancels a constant flux and has variance
    ``6 s^2`` for white read noise ``s``; the robust sigma (half the
    15.87-84.13 percentile range) over all pixels and reads, divided by
    ``sqrt(6)``, estimates ``s``.

    Parameters
    ----------
    cube : ndarray, shape (n_reads, ...)
        At least 3 reads.
    """
    if cube.shape[0] < 3:
        raise ValueError("estimating the read noise needs at least 3 reads")
    # (reads, rows, columns): a view of a strided band (no copy of it), whatever the number of axes
    reads = np.asarray(cube, dtype=np.float32)
    reads = reads.reshape(reads.shape[0], -1, reads.shape[-1]) if reads.ndim > 1 else reads.reshape(-1, 1, 1)
    size = (reads.shape[0] - 2) * reads.shape[1] * reads.shape[2]
    # the values of _evenly_thinned(np.diff(reads, n=2, axis=0)), computed alone
    return robust_sigma(_thinned_second_differences(reads, max(1, -(-size // _MOST_VALUES)))) / np.sqrt(6.0)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _thinned_second_differences(reads, step):  # pragma: no cover - compiled
    """Every ``step``-th value of ``np.diff(reads, n=2, axis=0)`` (reads, rows, columns) flattened, the same
    arithmetic (``(r[k+2] - r[k+1]) - (r[k+1] - r[k])``), without the array of all of them."""
    n, rows, cols = reads.shape
    size = (n - 2) * rows * cols
    out = np.empty((size + step - 1) // step, dtype=reads.dtype)
    for m in range(out.size):
        k, p = divmod(m * step, rows * cols)
        y, x = divmod(p, cols)
        out[m] = (reads[k + 2, y, x] - reads[k + 1, y, x]) - (reads[k + 1, y, x] - reads[k, y, x])
    return out
