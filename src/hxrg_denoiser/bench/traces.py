"""Echelle traces as a user meets them: background-subtracted box extraction, traces found or read from a file.

Users of echelle spectrographs subtract a local background before they
extract: here the mean of two side bands a few rows off each trace, smoothed
along the order, is taken from a box of a few rows around the trace
(:func:`extract_box_background_subtracted`). A slowly varying offset then
does little harm, while an error confined to the lit rows, or shaped like
the trace, does all of it: that is what this extraction measures.

Traces come from the simulated scene, from the truth image itself
(:func:`find_traces`), or from a FITS file of trace centres
(:func:`~hxrg_denoiser.simulate.scenes.read_traces`, written by
``hxrg simulate science``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.scenes import EchelleOrder, read_traces, write_traces

__all__ = [
    "BOX_HALF_ROWS",
    "BAND_ROWS",
    "extract_box",
    "extract_box_background_subtracted",
    "find_traces",
    "read_traces",
    "write_traces",
]  # read_traces and write_traces live with the scenes (simulate/scenes.py); re-exported here

BOX_HALF_ROWS = 3  # a 7-row box
BAND_ROWS = (5, 8)  # side bands 5..8 rows off the trace, on both sides
SMOOTH_COLUMNS = 31  # the background is smoothed along the order over this many columns


def _rows(order: EchelleOrder, offsets: np.ndarray, geometry: ReadoutGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``round(centre) + offsets`` per column and the columns where all of them are science pixels."""
    centre = np.asarray(order.center, dtype=np.float64)
    finite = np.isfinite(centre)
    base = np.where(finite, np.round(np.nan_to_num(centre)), -10_000).astype(int)
    rows = base[:, None] + offsets[None, :]
    science = geometry.science_rows
    cols = np.arange(geometry.n_cols)
    valid = finite & np.all((rows >= science.start) & (rows < science.stop), axis=1)
    valid &= (cols >= geometry.science_cols.start) & (cols < geometry.science_cols.stop)
    return np.clip(rows, 0, geometry.n_rows - 1), valid


def extract_box(image: np.ndarray, orders: list[EchelleOrder], geometry: ReadoutGeometry,
                half_rows: int = BOX_HALF_ROWS) -> np.ndarray:
    """Sum over a box of ``2 half_rows + 1`` rows around each trace, shape ``(n_orders, n_cols)``; NaN where invalid."""
    cols = np.arange(geometry.n_cols)[:, None]
    out = np.full((len(orders), geometry.n_cols), np.nan)
    for i, order in enumerate(orders):
        rows, valid = _rows(order, np.arange(-half_rows, half_rows + 1), geometry)
        out[i, valid] = image[rows, cols].astype(np.float64).sum(axis=1)[valid]
    return out


def extract_box_background_subtracted(
    image: np.ndarray,
    orders: list[EchelleOrder],
    geometry: ReadoutGeometry,
    *,
    half_rows: int = BOX_HALF_ROWS,
    band: tuple[int, int] = BAND_ROWS,
    smooth: int = SMOOTH_COLUMNS,
) -> np.ndarray:
    """Box extraction minus the local background, as users extract, shape ``(n_orders, n_cols)``.

    The background of a column is the mean of the pixels ``band[0]`` to
    ``band[1]`` rows above and below the trace, averaged along the order over
    ``smooth`` columns (valid columns only), times the box height.
    """
    cols = np.arange(geometry.n_cols)[:, None]
    offsets = np.arange(band[0], band[1] + 1)
    out = np.full((len(orders), geometry.n_cols), np.nan)
    box = extract_box(image, orders, geometry, half_rows)
    for i, order in enumerate(orders):
        rows, valid = _rows(order, np.concatenate([-offsets[::-1], offsets]), geometry)
        valid &= np.isfinite(box[i])
        side = np.where(valid, image[rows, cols].astype(np.float64).mean(axis=1), 0.0)
        weight = uniform_filter1d(valid.astype(np.float64), smooth, mode="constant")
        level = uniform_filter1d(side, smooth, mode="constant") / np.maximum(weight, 1e-12)
        out[i, valid] = box[i, valid] - (2 * half_rows + 1) * level[valid]
    return out


def find_traces(truth: np.ndarray, geometry: ReadoutGeometry, *, min_separation: int = 12) -> list[EchelleOrder]:
    """Traces of the orders of a true echelle image, followed from its central column.

    Each order is a ridge of the image smoothed along rows' columns; its
    centre is the flux-weighted centroid within 3 rows of the ridge, followed
    column by column while it holds light; its width is the median
    flux-weighted RMS width. Continuum and lines are unknown (taken as the
    extracted spectrum, no lines).
    """
    science = ~geometry.reference_mask
    image = np.where(science, np.nan_to_num(truth), 0.0).astype(np.float64)
    smooth = uniform_filter1d(image, 33, axis=1, mode="nearest")
    level = np.percentile(smooth[science], 99)
    if not level > 0:
        return []
    start = geometry.n_cols // 2
    peaks, _ = find_peaks(smooth[:, start], height=0.1 * level, distance=min_separation)
    rows = np.arange(geometry.n_rows)
    orders = []
    for peak in peaks:
        centre = np.full(geometry.n_cols, np.nan)
        for direction in (1, -1):
            y = float(peak)
            for x in range(start, geometry.n_cols if direction > 0 else -1, direction):
                window = slice(max(0, int(round(y)) - 3), min(geometry.n_rows, int(round(y)) + 4))
                weights = smooth[window, x]
                if weights.sum() <= 0.02 * level * (window.stop - window.start):
                    break
                y = float(np.sum(rows[window] * weights) / weights.sum())
                centre[x] = y
        orders.append(_order_from_centre(centre, image))
    return orders


def _order_from_centre(centre: np.ndarray, image: np.ndarray) -> EchelleOrder:
    cols = np.flatnonzero(np.isfinite(centre))
    offsets = np.arange(-6, 7)
    rows = np.clip(np.round(centre[cols]).astype(int)[:, None] + offsets, 0, image.shape[0] - 1)
    values = np.clip(image[rows, cols[:, None]], 0, None)
    distance = rows - centre[cols, None]
    flux = values.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = np.sqrt((values * distance**2).sum(axis=1) / flux)
    sigma = float(np.nanmedian(width)) if np.isfinite(width).any() else 1.5
    spectrum = np.zeros(image.shape[1])
    spectrum[cols] = flux
    return EchelleOrder(centre, max(sigma, 0.5), spectrum, spectrum.copy(), np.zeros((0, 3)))
