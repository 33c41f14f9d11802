"""Measuring flux images against the truth: metrics, extraction, benchmark suites and reports."""

from hxrg_denoiser.bench.metrics import PixelErrors, linearity, noise_slope, pixel_errors, robust_sigma

__all__ = ["PixelErrors", "pixel_errors", "robust_sigma", "linearity", "noise_slope"]
