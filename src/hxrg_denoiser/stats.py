"""Robust statistics used across the package (one helper each)."""

from __future__ import annotations

import numpy as np

__all__ = ["robust_sigma", "mad_sigma", "all_finite", "first_true"]

GAUSS_PERCENTILES = (15.865, 84.135)  # +-1 sigma of a Gaussian
MAD_TO_SIGMA = 1.4826  # sigma / median absolute deviation for a Gaussian


def robust_sigma(values: np.ndarray) -> float:
    """Half the 15.87-84.13 percentile range of the finite values (sigma for a Gaussian); NaN if none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    low, high = np.percentile(values, GAUSS_PERCENTILES)
    return float((high - low) / 2.0)


def first_true(mask: np.ndarray) -> np.ndarray:
    """Along the first axis (reads), the index of the first True of each pixel; the axis' length where none is.

    ``mask``: shape ``(n_reads, ...)``; returns shape ``mask.shape[1:]``, int32.
    """
    first = np.argmax(mask, axis=0).astype(np.int32)
    first[~mask.any(axis=0)] = mask.shape[0]
    return first


def all_finite(values: np.ndarray) -> bool:
    """Whether every value is finite: one float32 sum (a NaN or inf makes it non-finite), the element-wise
    test only when the sum is not finite (it may have overflowed)."""
    with np.errstate(over="ignore"):
        if np.isfinite(np.sum(values, dtype=np.float32)):
            return True
    return bool(np.isfinite(values).all())


def mad_sigma(values: np.ndarray) -> float:
    """1.4826 times the median absolute deviation from the median (sigma for a Gaussian)."""
    values = np.asarray(values)
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))
