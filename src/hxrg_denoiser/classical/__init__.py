"""Classical flux estimators and reference-pixel correction, as pure functions on arrays."""

from hxrg_denoiser.classical.estimators import (
    cds_slope,
    cds_weights,
    estimate_read_noise,
    fowler_slope,
    fowler_weights,
    linear_slope_variance,
    ols_weights,
    optimal_utr_slope,
    utr_slope,
    weighted_read_sum,
)
from hxrg_denoiser.classical.reference import (
    REFERENCE_METHODS,
    ReferenceLevels,
    correct_reference_pixels,
    measure_reference_levels,
)

__all__ = [
    "cds_slope",
    "cds_weights",
    "estimate_read_noise",
    "fowler_slope",
    "fowler_weights",
    "linear_slope_variance",
    "ols_weights",
    "optimal_utr_slope",
    "utr_slope",
    "weighted_read_sum",
    "REFERENCE_METHODS",
    "ReferenceLevels",
    "correct_reference_pixels",
    "measure_reference_levels",
]
