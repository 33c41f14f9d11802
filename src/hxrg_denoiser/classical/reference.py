"""Reference-pixel correction of up-the-ramp cubes.

Two recipes, each in three steps applied to every read:

``seed`` (as the public Payeur et al. 2022 implementation does it)
    1. subtract read 0 from every read;
    2. per output channel, subtract a line in ``y`` through the median of the
       bottom and the median of the top reference rows of that channel;
    3. per row, subtract the median of the left and right reference columns
       over a running window of 12 rows (rows ``y - 6 .. y + 5``).

``smoothed`` (as JWST ``refpix`` does it for NIR detectors)
    1. subtract read 0 (the role of the superbias);
    2. per output channel and column parity, subtract the mean of the top and
       bottom reference pixels (odd/even columns are read by different
       samplers and drift apart);
    3. per row, subtract the mean of the left and right reference columns,
       median-smoothed over 11 rows (rows ``y - 5 .. y + 5``).

Windows are truncated at the array edges. Steps 1-2 are per pixel given the
levels measured on the reference rows, and step 3 needs only ``before`` rows
above and ``after`` rows below, so a cube processed in strips (with that halo)
gives bit-identical results to the whole cube.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = [
    "corrected_with_offsets",
    "REFERENCE_METHODS",
    "ReferenceLevels",
    "side_window",
    "measure_reference_levels",
    "subtract_channel_levels",
    "side_reference_signal",
    "running_median",
    "correct_reference_pixels",
]

REFERENCE_METHODS = ("none", "seed", "smoothed", "sirs")  # sirs: see classical/sirs.py (needs a calibration)

_SIDE_WINDOWS = {"seed": (6, 6), "smoothed": (5, 6)}


def side_window(method: str) -> tuple[int, int]:
    """Rows ``(before, after)`` of the running window: row ``y`` uses ``y - before`` to ``y + after - 1``."""
    _check_method(method)
    return _SIDE_WINDOWS.get(method, (0, 0))


@dataclass(frozen=True)
class ReferenceLevels:
    """Channel levels measured on the top and bottom reference rows of every read.

    Attributes
    ----------
    method : str
        ``"seed"`` or ``"smoothed"``.
    bottom, top : ndarray
        ``seed``: medians, shape ``(n_reads, n_channels)``. ``smoothed``: the
        same mean in both, shape ``(n_reads, n_channels, 2)`` (even, odd columns).
    """

    method: str
    bottom: np.ndarray
    top: np.ndarray


def measure_reference_levels(
    bottom_rows: np.ndarray, top_rows: np.ndarray, geometry: ReadoutGeometry, method: str
) -> ReferenceLevels:
    """Measure per-channel reference levels.

    Parameters
    ----------
    bottom_rows, top_rows : ndarray, shape (n_reads, ref_border, n_cols)
        Reference rows, read 0 already subtracted.
    geometry : ReadoutGeometry
    method : {"seed", "smoothed"}
    """
    _check_method(method)
    n_reads = bottom_rows.shape[0]
    nc, w = geometry.n_channels, geometry.channel_width
    by_channel_bottom = bottom_rows.reshape(n_reads, -1, nc, w)
    by_channel_top = top_rows.reshape(n_reads, -1, nc, w)
    if method == "seed":
        bottom = np.median(by_channel_bottom.transpose(0, 2, 1, 3).reshape(n_reads, nc, -1), axis=-1)
        top = np.median(by_channel_top.transpose(0, 2, 1, 3).reshape(n_reads, nc, -1), axis=-1)
        return ReferenceLevels(method, bottom.astype(np.float32), top.astype(np.float32))
    both = np.concatenate([by_channel_bottom, by_channel_top], axis=1)  # (reads, 2b, nc, w)
    parity = both.reshape(n_reads, both.shape[1], nc, w // 2, 2) if w % 2 == 0 else None
    if parity is None:
        mean = np.repeat(both.mean(axis=(1, 3))[..., None], 2, axis=-1)
    else:
        mean = parity.mean(axis=(1, 3))
    mean = mean.astype(np.float32)
    return ReferenceLevels(method, mean, mean)


def subtract_channel_levels(
    cube: np.ndarray, row_start: int, levels: ReferenceLevels, geometry: ReadoutGeometry
) -> np.ndarray:
    """Subtract the channel levels in place from rows ``row_start ...`` of every read.

    Parameters
    ----------
    cube : ndarray, shape (n_reads, n_rows_strip, n_cols), float32
        Read 0 already subtracted.
    row_start : int
        Image row of ``cube[:, 0]``.

    Returns
    -------
    ndarray, shape (n_reads, n_rows_strip, n_channels, 2), float32
        What was subtracted from each read, row, channel and parity of column (even, odd): a read-only view.
    """
    n_reads, n_rows, _ = cube.shape
    nc, w = geometry.n_channels, geometry.channel_width
    by_channel = cube.reshape(n_reads, n_rows, nc, w)
    if levels.method == "seed":
        b = geometry.ref_border
        y_bottom = (b - 1) / 2.0
        y_top = geometry.n_rows - 1 - (b - 1) / 2.0
        frac = ((np.arange(row_start, row_start + n_rows) - y_bottom) / (y_top - y_bottom)).astype(np.float32)
        line = levels.bottom[:, None, :] + (levels.top - levels.bottom)[:, None, :] * frac[None, :, None]
        by_channel -= line[..., None]
        return np.broadcast_to(line[..., None], (n_reads, n_rows, nc, 2))
    pairs = by_channel.reshape(n_reads, n_rows, nc, w // 2, 2) if w % 2 == 0 else None
    if pairs is None:
        by_channel -= levels.bottom[:, None, :, 0, None]
        return np.broadcast_to(levels.bottom[:, None, :, :1], (n_reads, n_rows, nc, 2))
    pairs -= levels.bottom[:, None, :, None, :]
    return np.broadcast_to(levels.bottom[:, None], (n_reads, n_rows, nc, 2))


def side_reference_signal(cube: np.ndarray, geometry: ReadoutGeometry, method: str) -> np.ndarray:
    """Per-row values of the left and right reference columns that the running window combines.

    Returns
    -------
    ndarray
        ``seed``: the reference pixels themselves, shape ``(n_reads, n_rows, 2 * ref_border)``.
        ``smoothed``: their mean, shape ``(n_reads, n_rows, 1)``.
    """
    side = cube[:, :, geometry.side_reference_cols]
    if method == "smoothed":
        return side.mean(axis=-1, keepdims=True, dtype=np.float32)
    return side


def running_median(values: np.ndarray, before: int, after: int, rows: slice) -> np.ndarray:
    """Median over a running window of rows, truncated at the array edges.

    Parameters
    ----------
    values : ndarray, shape (n_reads, n_rows, k)
        Values per row; the ``k`` values of every row in the window enter the median.
    before, after : int
        Row ``y`` uses rows ``y - before`` to ``y + after - 1``.
    rows : slice
        Rows (of ``values``) for which to compute the median.

    Returns
    -------
    ndarray, shape (n_reads, len(rows))
    """
    n_reads, n_rows, _ = values.shape
    wanted = range(*rows.indices(n_rows))
    out = np.empty((n_reads, len(wanted)), dtype=np.float32)
    length = before + after
    interior = [i for i, y in enumerate(wanted) if y - before >= 0 and y + after <= n_rows]
    if interior and n_rows >= length:
        windows = sliding_window_view(values, length, axis=1)  # (reads, n_rows - L + 1, k, L)
        starts = np.array([wanted[i] - before for i in interior])
        out[:, interior] = np.median(windows[:, starts].reshape(n_reads, len(starts), -1), axis=-1)
    done = set(interior)
    for i, y in enumerate(wanted):
        if i not in done:
            block = values[:, max(0, y - before) : min(n_rows, y + after)]
            out[:, i] = np.median(block.reshape(n_reads, -1), axis=-1)
    return out


def correct_reference_pixels(
    cube: np.ndarray,
    geometry: ReadoutGeometry,
    method: str,
    *,
    row_start: int = 0,
    levels: ReferenceLevels | None = None,
    core: slice | None = None,
) -> np.ndarray:
    """Reference-pixel correction of a cube or of a strip of it.

    Parameters
    ----------
    cube : ndarray, shape (n_reads, n_rows_strip, n_cols)
        Float32 reads; modified in place and returned. A strip must include
        :func:`side_window` rows of halo above and below its ``core`` where
        the image has them.
    geometry : ReadoutGeometry
    method : {"none", "seed", "smoothed"}
    row_start : int
        Image row of ``cube[:, 0]``.
    levels : ReferenceLevels, optional
        Levels from :func:`measure_reference_levels`; measured on ``cube``
        (which must then be the whole image) when omitted.
    core : slice, optional
        Rows of ``cube`` to return; all rows when omitted.

    Returns
    -------
    ndarray, shape (n_reads, len(core), n_cols)
    """
    return corrected_with_offsets(cube, geometry, method, row_start=row_start, levels=levels, core=core)[0]


def corrected_with_offsets(
    cube: np.ndarray,
    geometry: ReadoutGeometry,
    method: str,
    *,
    row_start: int = 0,
    levels: ReferenceLevels | None = None,
    core: slice | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`correct_reference_pixels`, and the offsets it subtracted from each read beyond read 0.

    The correction takes from each pixel its read 0 (the same in every read: no slope has it), and from each
    read one value per row, channel and parity of column (the channel levels, the common mode of the side
    reference columns): those are the offsets, shape ``(n_reads, len(core), n_channels, 2)`` (even and odd
    columns), float32; None for ``none``. The reads without the correction are the corrected ones plus them
    (each less its read 0).
    """
    _check_method(method)
    if method == "sirs":
        raise ValueError("the sirs correction needs a calibration: use StripStream(..., calibration=...)")
    core = core or slice(0, cube.shape[1])
    if method == "none":
        return cube[:, core], None
    cube -= cube[0].copy()
    if levels is None and geometry.ref_top_bottom:
        b = geometry.ref_border
        if row_start != 0 or cube.shape[1] != geometry.n_rows:
            raise ValueError("reference levels must be given when correcting a strip")
        levels = measure_reference_levels(cube[:, :b], cube[:, -b:], geometry, method)
    subtracted = subtract_channel_levels(cube, row_start, levels, geometry) if levels is not None else None
    before, after = side_window(method)
    common = running_median(side_reference_signal(cube, geometry, method), before, after, core)
    out = cube[:, core]
    out -= common[:, :, None]
    offsets = np.repeat(np.repeat(common[:, :, None, None], geometry.n_channels, axis=2), 2, axis=3)
    if subtracted is not None:
        offsets += subtracted[:, core]
    return out, offsets


def _check_method(method: str) -> None:
    if method not in REFERENCE_METHODS:
        raise ValueError(f"unknown reference correction {method!r}; choose one of {REFERENCE_METHODS}")
