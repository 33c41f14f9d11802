"""Ribbons: the network input of Payeur et al. (2022), assembled from a corrected strip.

For row ``y`` and readout position ``x0``, a ribbon holds, for each of the
first ``n_reads`` reads, the values of all channels at ``x0`` (readout-time
order, butterfly undone) and the ``2 * ref_border`` side reference pixels of
that row; each of these ``n_channels + 8`` time series is mean-subtracted
over the reads. A series whose largest read-to-read jump exceeds 10 times
the median absolute read-to-read difference of the ribbon (a cosmic ray,
a hot pixel) is replaced by the series of the next channel. The network sees
the ribbons of rows ``y - 1``, ``y`` and ``y + 1`` at each position:
``3 x n_reads x (n_channels + 8)`` features (row offset slowest, series fastest;
the original's 98 x 40 x 3 in another order, which only permutes the input weights).
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["row_ribbons", "stack_neighbours", "label_rows", "OUTLIER_FACTOR"]

OUTLIER_FACTOR = 10.0


def row_ribbons(electrons: np.ndarray, geometry: ReadoutGeometry, n_reads: int) -> np.ndarray:
    """Ribbons of every row of a corrected strip.

    Parameters
    ----------
    electrons : ndarray, shape (reads, rows, n_cols)
        Reference-corrected reads, electrons; at least ``n_reads`` reads.
    geometry : ReadoutGeometry
    n_reads : int
        Reads used (the first ones).

    Returns
    -------
    ndarray, shape (rows, channel_width, n_reads, n_channels + 2 * ref_border), float32
    """
    cube = electrons[:n_reads]
    readout = geometry.to_readout_order(cube)  # (reads, rows, channels, width)
    channels = readout.transpose(1, 3, 0, 2)  # (rows, width, reads, channels)
    side = cube[:, :, geometry.side_reference_cols].transpose(1, 0, 2)  # (rows, reads, 2b)
    side = np.broadcast_to(side[:, None], (side.shape[0], geometry.channel_width) + side.shape[1:])
    ribbons = np.empty(channels.shape[:3] + (channels.shape[3] + side.shape[3],), dtype=np.float32)
    ribbons[..., : channels.shape[3]] = channels
    ribbons[..., channels.shape[3] :] = side
    ribbons -= ribbons.mean(axis=2, keepdims=True)
    _replace_outlier_series(ribbons, geometry.n_channels)
    return ribbons


def _replace_outlier_series(ribbons: np.ndarray, n_channels: int) -> None:
    """In place: channel series with a jump > OUTLIER_FACTOR x the ribbon's median |difference| take the next channel's."""
    shape = ribbons.shape
    jumps = np.empty(shape[:2] + (shape[2] - 1, shape[3]), dtype=np.float32)  # (rows, width, reads-1, series)
    np.subtract(ribbons[:, :, 1:], ribbons[:, :, :-1], out=jumps)
    np.abs(jumps, out=jumps)
    median = np.median(jumps.reshape(shape[0], shape[1], -1), axis=-1)  # (rows, width)
    largest = jumps[..., :n_channels].max(axis=2)  # (rows, width, channels)
    bad = largest > OUTLIER_FACTOR * median[..., None]
    if not bad.any():
        return
    rows, steps, channels = np.nonzero(bad)
    donors = (channels + 1) % n_channels
    ribbons[rows, steps, :, channels] = ribbons[rows, steps, :, donors]


def stack_neighbours(ribbons: np.ndarray, centre_rows: np.ndarray, scale: float) -> np.ndarray:
    """Network input for ``centre_rows`` (indices into ``ribbons``) from rows ``y - 1, y, y + 1``.

    Returns
    -------
    ndarray, shape (len(centre_rows), channel_width, 3 * reads * series), float32, times ``scale``
    """
    rows, width = ribbons.shape[:2]
    flat = ribbons.reshape(rows, width, -1)
    features = flat.shape[-1]
    out = np.empty((len(centre_rows), width, 3 * features), dtype=np.float32)
    for offset in range(3):
        np.multiply(flat[centre_rows + offset - 1], np.float32(scale), out=out[:, :, offset * features : (offset + 1) * features])
    return out


def label_rows(scene_rows: np.ndarray, geometry: ReadoutGeometry, scale: float) -> np.ndarray:
    """Training labels: scene rows in readout order, shape ``(rows, channel_width, n_channels)``, times ``scale``."""
    readout = geometry.to_readout_order(scene_rows)  # (rows, channels, width)
    return (readout.transpose(0, 2, 1) * np.float32(scale)).astype(np.float32)
