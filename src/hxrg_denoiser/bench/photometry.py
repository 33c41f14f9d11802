"""Metrics of imaging scenes against the truth: aperture photometry, whether the sky is kept, ERR by level.

Pure functions, images in electrons over the ramp. The same apertures are laid on the estimate and on the
truth, so an error is what the method changed, not how an aperture samples a profile.

* :func:`aperture_sums`: circular apertures (pixel centres within the radius), raw and with the median
  of an annulus subtracted (the local background);
* :func:`photometry_errors`: errors of both over the sources of a scene whose aperture and annulus lie on
  science pixels;
* :func:`channel_mean_errors`: each output channel's mean error, beside the true sky's channel means:
  a method that takes a sky gradient for channel offsets moves them;
* :func:`err_calibration_by_level`: ``std((estimate - truth) / ERR)`` on faint and on bright pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["ApertureSums", "aperture_sums", "PhotometryErrors", "photometry_errors", "ChannelMeans",
           "channel_mean_errors", "err_calibration_by_level"]


class ApertureSums(NamedTuple):
    """Per source: ``raw`` sum in the aperture, ``background`` (annulus median per pixel), ``local`` (raw less
    the background times the aperture's pixels), ``pixels`` in the aperture."""

    raw: np.ndarray
    background: np.ndarray
    local: np.ndarray
    pixels: np.ndarray


def _offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    reach = int(np.ceil(radius)) + 1
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return dy.ravel(), dx.ravel()


def aperture_sums(image: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float,
                  annulus: tuple[float, float]) -> ApertureSums:
    """Sums of ``image`` in circles of ``radius`` around ``(x, y)`` (pixel centres at integer + 0.5), and the
    median of the annulus ``annulus[0] <= r < annulus[1]`` around each.

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
    x, y : ndarray, shape (n_sources,)
        Source positions, pixels; every aperture and annulus must lie inside the image.
    radius : float
    annulus : (float, float)

    Returns
    -------
    ApertureSums
    """
    dy, dx = _offsets(annulus[1])
    cx, cy = np.floor(x).astype(int), np.floor(y).astype(int)
    px, py = cx[:, None] + dx[None, :], cy[:, None] + dy[None, :]  # (sources, offsets)
    r = np.hypot(px + 0.5 - x[:, None], py + 0.5 - y[:, None])
    values = image[py.clip(0, image.shape[0] - 1), px.clip(0, image.shape[1] - 1)].astype(np.float64)
    inside = r < radius
    ring = (r >= annulus[0]) & (r < annulus[1])
    raw = np.where(inside, values, 0.0).sum(axis=1)
    background = np.nanmedian(np.where(ring, values, np.nan), axis=1)
    pixels = inside.sum(axis=1)
    return ApertureSums(raw, background, raw - background * pixels, pixels)


class PhotometryErrors(NamedTuple):
    """Aperture photometry against the truth, electrons: RMS and mean of the raw and of the
    annulus-subtracted sums' errors, over ``n`` sources."""

    raw_rms: float
    raw_bias: float
    local_rms: float
    local_bias: float
    n: int


def photometry_errors(estimate: np.ndarray, truth: np.ndarray, sources: np.ndarray, geometry: ReadoutGeometry, *,
                      radius: float = 4.0, annulus: tuple[float, float] = (8.0, 14.0), usable: np.ndarray | None = None,
                      min_flux: float = 0.0) -> PhotometryErrors | None:
    """Errors of aperture photometry of ``sources`` (``x``, ``y``, ``flux`` fields) on ``estimate``, the truth
    being the same apertures on ``truth``.

    Sources whose annulus reaches a reference pixel or the edge, or any pixel not ``usable`` (e.g.
    flagged), and those fainter than ``min_flux``, are left out. None where no source is left.
    """
    reach = annulus[1] + 1
    x, y = np.asarray(sources["x"], float), np.asarray(sources["y"], float)
    b = geometry.ref_border
    keep = ((x - reach >= b) & (x + reach <= geometry.n_cols - b) & (y - reach >= b)
            & (y + reach <= geometry.n_rows - b) & (np.asarray(sources["flux"]) >= min_flux))
    if usable is not None and keep.any():
        flagged = aperture_sums((~usable).astype(np.float64), x[keep], y[keep], annulus[1], (0.0, annulus[1]))
        keep[np.flatnonzero(keep)[flagged.raw > 0]] = False
    if not keep.any():
        return None
    measured = aperture_sums(estimate, x[keep], y[keep], radius, annulus)
    true = aperture_sums(truth, x[keep], y[keep], radius, annulus)
    raw, local = measured.raw - true.raw, measured.local - true.local
    return PhotometryErrors(float(np.sqrt(np.mean(raw**2))), float(np.mean(raw)), float(np.sqrt(np.mean(local**2))),
                            float(np.mean(local)), int(keep.sum()))


class ChannelMeans(NamedTuple):
    """Per output channel, over its science pixels: the mean error of the estimate and the true mean.

    ``spread`` is the peak-to-peak of the mean errors less their average (what moved between channels);
    ``true_spread`` that of the true means (the sky difference between channels)."""

    errors: np.ndarray
    truth: np.ndarray
    spread: float
    true_spread: float


def channel_mean_errors(estimate: np.ndarray, truth: np.ndarray, geometry: ReadoutGeometry,
                        usable: np.ndarray | None = None) -> ChannelMeans:
    """Mean of ``estimate - truth`` and of ``truth`` over each channel's science pixels (and ``usable``)."""
    mask = ~geometry.reference_mask if usable is None else usable & ~geometry.reference_mask
    mask = mask & np.isfinite(estimate)
    error = np.where(mask, estimate.astype(np.float64) - truth, 0.0)
    true = np.where(mask, truth.astype(np.float64), 0.0)
    width = geometry.channel_width
    counts = mask.reshape(geometry.n_rows, geometry.n_channels, width).sum(axis=(0, 2))
    counts = np.maximum(counts, 1)
    errors = error.reshape(geometry.n_rows, geometry.n_channels, width).sum(axis=(0, 2)) / counts
    means = true.reshape(geometry.n_rows, geometry.n_channels, width).sum(axis=(0, 2)) / counts
    return ChannelMeans(errors, means, float(np.ptp(errors)), float(np.ptp(means)))


def err_calibration_by_level(estimate: np.ndarray, err: np.ndarray, truth: np.ndarray, usable: np.ndarray, *,
                             faint_below: float, bright_above: float) -> tuple[float | None, float | None]:
    """``std((estimate - truth) / err)`` on pixels whose truth is below ``faint_below`` and on those above
    ``bright_above`` (1 where ERR is right); None where fewer than 100 pixels qualify."""
    ok = usable & np.isfinite(estimate) & np.isfinite(err) & (err > 0)
    z = (estimate.astype(np.float64) - truth) / np.where(ok, err, 1.0)
    result: list[float | None] = []
    for pixels in (ok & (truth < faint_below), ok & (truth > bright_above)):
        result.append(float(np.std(z[pixels])) if pixels.sum() >= 100 else None)
    return result[0], result[1]
