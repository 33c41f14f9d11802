"""Denoise a flux image with a ``readout-set`` network: features, strips, and the correction.

Pure functions on numpy arrays (plus the torch model): the image goes to
readout order, features are built (see :mod:`hxrg_denoiser.models.readout_set`),
the network runs over strips of rows with a halo of its reach (any strip
size gives the same result), and the predicted correlated noise is removed
from the science pixels. Reference pixels keep their values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d

from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.geometry import ReadoutGeometry, channel_streams, rows_first
from hxrg_denoiser.models.readout_set import ReadoutSetNet
from hxrg_denoiser.stats import mad_sigma
from hxrg_denoiser.strips import plan_strips

__all__ = ["image_noise_sigma", "readout_features", "correlated_noise", "smoothed_correction", "denoise_flux_image"]


def image_noise_sigma(image: np.ndarray, science: np.ndarray) -> float:
    """Noise level of a flux image: robust sigma of vertical pixel differences over science pixels, / sqrt(2)."""
    both = science[1:] & science[:-1] & np.isfinite(image[1:]) & np.isfinite(image[:-1])
    diff = (image[1:].astype(np.float64) - image[:-1])[both]
    if diff.size < 100:
        raise ValueError("image has too few science pixels to measure its noise")
    sigma = mad_sigma(diff) / np.sqrt(2.0)
    return float(max(sigma, 1e-6))


def readout_features(
    image: np.ndarray, geometry: ReadoutGeometry, clip: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Network inputs for ``image``.

    Returns
    -------
    features : ndarray, shape (channels, 4, rows, positions), float32
    estimate : ndarray, shape (rows, channels, positions), float64
        The classical cleaning's estimate of the correlated noise, electrons (readout order).
    sigma : float
        Noise level the features are divided by, electrons.
    """
    science = ~geometry.reference_mask & np.isfinite(image)
    work = np.where(science, image, 0.0).astype(np.float64)
    sigma = image_noise_sigma(work, science)
    estimate = geometry.to_readout_order(work - clean_flux_image(work, geometry).astype(np.float64))
    readout = channel_streams(geometry.to_readout_order(work))
    rows, channels, positions = estimate.shape
    features = np.empty((channels, 4, rows, positions), dtype=np.float32)
    features[:, 0] = np.clip(readout / sigma, -clip, clip)
    features[:, 1] = np.clip(channel_streams(estimate) / sigma, -clip, clip)
    features[:, 2] = np.arcsinh(readout / (10.0 * sigma))
    features[:, 3] = channel_streams(geometry.to_readout_order(geometry.reference_mask))
    return features, estimate, sigma


def correlated_noise(
    image: np.ndarray,
    geometry: ReadoutGeometry,
    model: ReadoutSetNet,
    *,
    strip_rows: int = 256,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    correction_window: Sequence[int] = (1, 1),
) -> np.ndarray:
    """The network's estimate of the correlated read noise in ``image``, electrons, image order.

    The rows are processed in strips of ``strip_rows`` with a halo of the
    network's reach on each side, so the result does not depend on the strip
    size (to rounding): a first pass sums the context over the whole image, a
    second predicts the correction to the cleaning's estimate, which is then
    averaged over ``correction_window`` (rows, columns) of science pixels
    (:func:`smoothed_correction`; ``(1, 1)``: as predicted).
    """
    features, estimate, sigma = readout_features(image, geometry, model.config.clip)
    n_rows = features.shape[2]
    device = torch.device(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    context = torch.zeros(1, model.config.context, dtype=torch.float64)
    with torch.no_grad(), autocast:
        for strip, batch in _strip_batches(features, strip_rows, model.context_reach, device):
            context += model.context_sum(batch, strip.core).cpu().double()
    context = (context / float(features.shape[0] * n_rows * features.shape[3])).float().to(device)
    correction = np.empty((features.shape[0], n_rows, features.shape[3]), dtype=np.float32)
    with torch.no_grad(), autocast:
        for strip, batch in _strip_batches(features, strip_rows, model.config.row_reach, device):
            correction[:, strip.start : strip.stop] = model(batch, context)[0, :, strip.core].float().cpu().numpy()
    science = ~geometry.reference_mask & np.isfinite(image)
    predicted = geometry.to_image_order(rows_first(correction))
    return geometry.to_image_order(estimate) + sigma * smoothed_correction(predicted, science, correction_window)


def _strip_batches(features: np.ndarray, strip_rows: int, reach: int, device: torch.device):
    """Each strip of ``strip_rows`` rows of ``features`` (channels, 4, rows, positions) with ``reach`` rows of
    halo on each side, and its rows as a batch of one on ``device``."""
    for strip in plan_strips(features.shape[2], strip_rows, reach, reach):
        yield strip, torch.from_numpy(features[None, :, :, strip.halo_start : strip.halo_stop]).to(device)


def smoothed_correction(correction: np.ndarray, science: np.ndarray, window: Sequence[int]) -> np.ndarray:
    """``correction`` (image order) averaged over ``window`` = (rows, columns) of science pixels, float32.

    Only science pixels enter the means (reference and non-finite pixels count for nothing, and the
    image's edges cut the window), so a correction that is the same everywhere is kept as it is.
    ``(1, 1)`` returns the correction itself.

    Why: a network's correction to the cleaning's estimate lowers the noise of single pixels, but its
    fine-scale part also carries errors at the scale of an extracted order (a few rows, tens of
    columns) that the cleaning's estimate does not have; a spectrum sums them. Averaged over a window
    longer than that, the correction keeps what it does at larger scales.
    """
    rows, cols = (int(v) for v in window)
    if rows == 1 and cols == 1:
        return correction.astype(np.float32)
    weight = science.astype(np.float32)
    total = np.where(science, correction, 0.0).astype(np.float32)
    for size, axis in ((rows, 0), (cols, 1)):
        if size > 1:
            total = uniform_filter1d(total, size, axis=axis, mode="constant")
            weight = uniform_filter1d(weight, size, axis=axis, mode="constant")
    return np.divide(total, weight, out=np.zeros_like(total), where=weight > 1e-6)


def denoise_flux_image(
    image: np.ndarray,
    geometry: ReadoutGeometry,
    model: ReadoutSetNet,
    *,
    strip_rows: int = 256,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    correction_window: Sequence[int] = (1, 1),
) -> np.ndarray:
    """``image`` with the network's correlated-noise estimate removed from its science pixels (float32).

    ``correction_window``: see :func:`correlated_noise`; a model file gives its own
    (``spec.correction_window``, which ``hxrg denoise`` applies).
    """
    noise = correlated_noise(image, geometry, model, strip_rows=strip_rows, device=device, precision=precision,
                             correction_window=correction_window)
    science = ~geometry.reference_mask & np.isfinite(image)
    return np.where(science, image - noise, image).astype(np.float32)
