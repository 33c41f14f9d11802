"""Classical non-linearity correction of raw reads (``--linearity``).

A pixel's integrating node loses sensitivity as charge collects: it reports ``m(Q) < Q`` of ``Q``
electrons, the loss growing with ``Q`` (a few per cent near full well). The correction is a polynomial
in the signal the pixel reports since its reset, ``S = read - reset level``, as in the JWST
``linearity`` step and its ``LINEARITY`` reference files::

    S_linear = c[0] + c[1] S + c[2] S**2 + ...       (c[1] close to 1)

Raw reads still carry the reset level (kTC noise and bias, thousands of DN that differ pixel to pixel),
so that level is taken from the ramp itself: the first read used, less the signal the pixel collected
before it, extrapolated from its first read differences (:func:`reset_level`), the differences
themselves corrected with the level found, twice (:func:`corrected_reset_level`: reported differences
shrink as charge collects, and with reads left out before the first used, 5 % at 5e4 DN put the level
thousands of DN off). An error ``d`` in that
level changes every corrected read of the pixel by nearly the same amount (fitted away with the
intercept) and its slope by about ``2 c[2] d`` of itself: below 1e-4 for a level wrong by 100 DN at a
5 % loss at 1e5 DN, so neither read noise nor a cosmic ray in the first reads matters.
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.stats import first_true

__all__ = ["reset_level", "corrected_reset_level", "linearize", "first_over_limit", "DIFFERENCES_FOR_LEVEL"]

DIFFERENCES_FOR_LEVEL = 3  # the first read differences whose median gives the signal per read before the ramp


def reset_level(reads: np.ndarray, first_read: int = 0) -> np.ndarray:
    """Each pixel's reset level: the level its signal is counted from.

    Read ``k`` of a ramp is taken ``k + 1`` read intervals after the reset (the first read already holds
    one interval's signal), so the level is the first read used less ``first_read + 1`` times the
    pixel's signal per read, the median of its first :data:`DIFFERENCES_FOR_LEVEL` read differences.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, rows, n_cols)
        Raw reads (input units), ``n_reads >= 2``; read 0 is read ``first_read`` of the ramp.
    first_read : int
        Index of ``reads[0]`` in the whole ramp.

    Returns
    -------
    ndarray, shape (rows, n_cols), float32
        Input units.
    """
    n = min(DIFFERENCES_FOR_LEVEL, reads.shape[0] - 1)
    per_read = np.median(np.diff(reads[: n + 1], axis=0), axis=0) if n > 1 else reads[1] - reads[0]
    return (reads[0] - np.float32(first_read + 1) * per_read).astype(np.float32)


def corrected_reset_level(reads: np.ndarray, first_read: int, coefficients: np.ndarray, correct: np.ndarray,
                          iterations: int = 2) -> np.ndarray:
    """:func:`reset_level` of the reads corrected with the level found before, ``iterations`` times.

    Each pass leaves the level's error times about the relative non-linearity over the first reads
    used (a few per cent), so two passes leave nothing that matters.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, rows, n_cols)
        Raw reads (input units); not changed.
    first_read : int
    coefficients, correct
        As :func:`linearize` takes them.

    Returns
    -------
    ndarray, shape (rows, n_cols), float32
    """
    head = reads[: DIFFERENCES_FOR_LEVEL + 1]
    level = reset_level(head, first_read)
    for _ in range(iterations):
        corrected = head.astype(np.float32, copy=True)
        linearize(corrected, coefficients, level, correct)
        level = reset_level(corrected, first_read)
    return level


def linearize(reads: np.ndarray, coefficients: np.ndarray, level: np.ndarray, correct: np.ndarray) -> None:
    """Correct raw reads in place: ``level + poly(read - level)`` where ``correct`` is True.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, rows, n_cols), float32
        Raw reads (input units); changed in place.
    coefficients : ndarray, shape (n_coefficients, rows, n_cols)
        ``c[0] + c[1] S + ...`` per pixel, for the signal ``S`` in input units.
    level : ndarray, shape (rows, n_cols)
        Each pixel's reset level (:func:`reset_level`).
    correct : ndarray, shape (rows, n_cols), bool
        The pixels to correct (others are left as they are: reference pixels, pixels without coefficients).
    """
    if not correct.any():
        return
    c = coefficients[:, correct].astype(np.float32)  # (n_coefficients, n_pixels)
    base = level[correct]
    for k in range(reads.shape[0]):
        signal = reads[k][correct] - base
        linear = np.full_like(signal, c[-1])
        for coefficient in c[-2::-1]:
            linear *= signal
            linear += coefficient
        reads[k][correct] = base + linear


def first_over_limit(reads: np.ndarray, level: np.ndarray, limit: float | np.ndarray) -> np.ndarray:
    """Each pixel's first read whose signal ``read - level`` is at or above ``limit`` (``n_reads`` if none).

    Parameters
    ----------
    reads : ndarray, shape (n_reads, rows, n_cols)
        Raw reads (input units).
    level : ndarray, shape (rows, n_cols)
    limit : float or ndarray, shape (rows, n_cols)
        The signal (input units) up to which the correction holds.

    Returns
    -------
    ndarray, shape (rows, n_cols), int32
    """
    return first_true((reads - level) >= limit)
