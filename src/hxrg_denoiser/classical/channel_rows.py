"""Offsets of a channel row's even and odd columns in a read difference: the correlated read noise that the
jump tests take out before they compare a difference with its pixel's noise.

Correlated read noise (1/f, drifts) moves the pixels a channel reads in one row by nearly the same amount
between two reads, and alternating column noise moves even and odd columns apart. Each such set's offset is
the mean of its residuals (read differences less their expectation); a jump or a hot pixel moves that mean,
so the tests average again without the outliers (:func:`channel_row_offsets`, and the candidates' second
look in :func:`robust_offsets`). Every mean is a tree of additions, the same bits in any layout.
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.threads import map_blocks

__all__ = ["channel_row_offsets", "remove_channel_row_offsets", "expected_set_spread", "difference_offsets",
           "extreme_residuals", "extreme_residuals_in_blocks", "offsets_of", "robust_offsets", "set_weights",
           "set_weight_sums"]


def _set_sums(values: np.ndarray, width: int) -> np.ndarray:
    """Sums of the even and of the odd columns of each channel row: ``values`` (..., pixels) with rows of
    whole channels, result (..., pixels // width, 2), float32.

    Summed as a tree of element-wise additions (halves added until one is left), so that every sum is the
    same whatever the array's layout or how many channel rows it holds: a matrix product's summation
    order follows the BLAS kernel, which may change with the number of rows."""
    pairs = values.reshape(*values.shape[:-1], -1, width // 2, 2).astype(np.float32, copy=False)
    while pairs.shape[-2] > 1:
        half = pairs.shape[-2] // 2
        summed = pairs[..., :half, :] + pairs[..., half:2 * half, :]
        if pairs.shape[-2] % 2:
            summed[..., :1, :] += pairs[..., 2 * half:, :]
        pairs = summed
    return pairs[..., 0, :]


def _set_means(values: np.ndarray, width: int) -> np.ndarray:
    """Plain means of the even and of the odd columns of each channel row (:func:`_set_sums` over their count)."""
    return _set_sums(values, width) / np.float32(width // 2)


def set_weights(sigma: np.ndarray) -> np.ndarray:
    """Each pixel's weight in its set's offset: ``1 / sigma**2`` (float32), ``sigma`` the noise of its read
    difference (white read noise and the shot noise of its flux).

    The offset is common to the set and each pixel adds its own noise: the inverse-variance mean is the
    least noisy estimate of it. A plain mean takes a bright pixel's shot noise (100 e- per difference at
    1e4 e- per frame) into the offset of every pixel of its channel row, where a test for small steps
    reads it as theirs."""
    weights = 1.0 / np.maximum(np.asarray(sigma, dtype=np.float32), np.float32(1e-6)) ** 2
    return np.nan_to_num(weights, nan=0.0, posinf=0.0).astype(np.float32)  # a pixel of unknown noise: none


def _weighted_read_means(flat: np.ndarray, expected: np.ndarray, width: int,
                         weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Set means of every read of ``flat`` (reads, pixels) and of ``expected``, plain or with ``weights``
    (pixels,): shapes (reads, sets, 2) and (sets, 2)."""
    if weights is None:
        return _set_means(flat, width), _set_means(expected, width)
    total = _set_sums(weights, width)
    total[total <= 0] = 1.0  # a set of pixels that all weigh nothing (saturated): offset 0
    means = np.empty((flat.shape[0],) + total.shape, dtype=np.float32)
    scratch = np.empty(flat.shape[1], dtype=np.float32)
    for k in range(flat.shape[0]):  # a read at a time: no temporary the size of the strip
        means[k] = _set_sums(np.multiply(flat[k], weights, out=scratch), width) / total
    return means, _set_sums(expected * weights, width) / total


def extreme_residuals(
    flat: np.ndarray, expected: np.ndarray, width: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest and smallest read difference of every pixel with its channel row's offsets removed.

    The offsets (means of each channel row's even and odd residuals, differences less ``expected``; with
    ``weights``, shape (pixels,), the weighted means, :func:`set_weights`) are the differences of the
    reads' own set means, all found in one pass over the strip; each difference then costs a subtraction,
    the offsets' removal and the running extremes. Outliers are not left out of the means here (see
    :func:`robust_offsets`).

    Returns
    -------
    high, low : ndarray, shape (pixels,)
        Extremes of the differences less the offsets (so the pixels' ``expected`` values stay in).
    offsets : ndarray, shape (n_reads - 1, pixels // width, 2)
        The offsets of the residuals of each difference's channel rows, even and odd columns.
    """
    means, level = _weighted_read_means(flat, expected, width, weights)
    offsets = np.diff(means, axis=0)  # of the differences; of the residuals once less level
    high = np.full(flat.shape[1], -np.inf, dtype=np.float32)
    low = np.full(flat.shape[1], np.inf, dtype=np.float32)
    step = np.empty(flat.shape[1], dtype=np.float32)
    by_set = step.reshape(-1, width)
    per_pixel = np.empty_like(by_set)  # each pixel's offset (small matrix products beat numpy broadcasting here)
    parity = _parity(width).T
    for k in range(flat.shape[0] - 1):
        np.subtract(flat[k + 1], flat[k], out=step)
        by_set -= np.matmul(offsets[k], parity, out=per_pixel)
        np.maximum(high, step, out=high)
        np.minimum(low, step, out=low)
    # d - offset(d) = d - offset(d - expected) - level: back to the residuals' offsets, level added to the extremes
    offsets -= level
    of_pixels = (level @ parity).reshape(-1)
    high += of_pixels
    low += of_pixels
    return high, low, offsets


def extreme_residuals_in_blocks(flat: np.ndarray, expected: np.ndarray, width: int, weights: np.ndarray | None = None,
                                 block: int = 1 << 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`extreme_residuals` on blocks of whole channel rows (about ``block`` pixels each) in
    :func:`~hxrg_denoiser.threads.map_blocks`'s threads, joined: every value is one channel row's or one
    pixel's, so the blocks change nothing."""
    size = max(width, block // width * width)
    starts = range(0, flat.shape[1], size)
    parts = map_blocks(lambda start: extreme_residuals(flat[:, start:start + size], expected[start:start + size],
                                                        width, None if weights is None else weights[start:start + size]),
                       starts)
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts], axis=1))


def difference_offsets(flat: np.ndarray, expected: np.ndarray, width: int,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """The mean residual (difference less ``expected``; weighted with ``weights``, shape (pixels,)) of the
    even and of the odd columns of each channel row, for every read difference of ``flat`` (reads, pixels of
    whole channel rows): shape ``(n_reads - 1, pixels // width, 2)`` (jumps included; see
    :func:`channel_row_offsets` for a robust one)."""
    means, level = _weighted_read_means(flat, expected, width, weights)
    return np.diff(means, axis=0) - level


def set_weight_sums(weights: np.ndarray, width: int) -> np.ndarray:
    """The sum of the weights (pixels,) of each channel row's even and odd columns: shape (sets, 2)."""
    return _set_sums(weights, width)


def offsets_of(offsets: np.ndarray, pixels: np.ndarray, width: int) -> np.ndarray:
    """The offsets (n_reads - 1, sets, 2) of the given pixels' sets: shape (n_reads - 1, pixels.size)."""
    return offsets[:, pixels // width, pixels % 2]


def robust_offsets(reads: np.ndarray, expected: np.ndarray, sigma: np.ndarray, candidates: np.ndarray,
                    offsets: np.ndarray, width: int, threshold: float, weights: np.ndarray) -> np.ndarray:
    """Average again, without its outliers, each set's offset where a candidate is an outlier.

    A jump, or a hot pixel, moves its set's mean by its size over the set's pixels; where a candidate is
    more than 4 sigmas from its set's offset, that set's offset (``offsets``, changed in place) becomes
    the mean of the values within 4 sigmas of it (0 if none is), each weighted by ``weights`` (pixels,; the
    weights ``offsets`` were made with). Values that far off and not among the candidates are too small to
    move a mean of 32 by much.

    Returns
    -------
    ndarray of int
        The pixels of those sets that the corrected offset puts above ``threshold`` (a jump the outlier
        had hidden: a cosmic ray often hits a few pixels of a row at once), to be tested with the others.
    """
    residual = np.diff(reads[:, candidates], axis=0) - expected[candidates] - offsets_of(offsets, candidates, width)
    limit = 4.0 * sigma
    read, which = np.nonzero(np.abs(residual) > limit[candidates])
    if read.size == 0:
        return np.zeros(0, dtype=np.int64)
    n_sets = offsets.shape[1]
    pair = np.unique(read.astype(np.int64) * n_sets + candidates[which] // width)
    read, sets = np.divmod(pair, n_sets)
    pixels = sets[:, None] * width + np.arange(width)  # (pairs, width)
    values = reads[read[:, None] + 1, pixels] - reads[read[:, None], pixels] - expected[pixels]
    parity = _parity(width)
    keep = (np.abs(values - offsets[read, sets] @ parity.T) < limit[pixels]) * weights[pixels]
    kept = keep @ parity
    mean = np.where(kept > 0, ((values * keep) @ parity) / np.where(kept > 0, kept, 1), np.float32(0.0))
    offsets[read, sets] = mean
    return np.unique(pixels[np.abs(values - mean @ parity.T) > threshold * sigma[pixels]])


def _parity(width: int) -> np.ndarray:
    """(width, 2) indicator of each column of a channel being even (column 0) or odd (column 1)."""
    parity = np.zeros((width, 2), dtype=np.float32)
    parity[0::2, 0] = parity[1::2, 1] = 1.0
    return parity


def expected_set_spread(limit: np.ndarray | float, shape: tuple[int, int], width: int) -> np.ndarray:
    """Mean square deviation each even or odd set of a channel row should have, ``(limit / 4)**2`` averaged
    over it: shape ``(rows * channels, 2)``."""
    sigma = np.broadcast_to(np.asarray(limit, dtype=np.float32) / 4.0, shape).reshape(-1, width)
    return (sigma**2 @ _parity(width)) / np.float32(width // 2)


def channel_row_offsets(residual: np.ndarray, width: int, limit: np.ndarray | float,
                        work: np.ndarray | None = None, expected_spread: np.ndarray | None = None) -> np.ndarray:
    """Offset of the even and of the odd columns of each channel row of a read difference.

    Correlated read noise (1/f, drifts) moves the pixels a channel reads in one row by nearly the same amount
    between two reads, and alternating column noise moves even and odd columns apart; the offset is the
    mean of each such set of residuals (differences less their expectation), those more than ``limit``
    from the set's plain mean (a jump, a hot pixel) left out. Only the sets whose mean square deviation
    exceeds 3 times what their limits imply (a quarter of a limit is one sigma) are averaged again: most
    sets hold no such value, and a value too small to show there moves the mean by little.

    Parameters
    ----------
    residual : ndarray, shape (rows, cols)
        Finite (a non-finite value would spoil its set's offset).
    width : int
        Columns per channel (even); ``cols`` a multiple of it.
    limit : ndarray, shape (rows, cols), or float
    work : ndarray, float32, shape (rows, cols), optional
        Scratch space (saves an allocation per call).
    expected_spread : ndarray, shape (rows * cols // width, 2), optional
        The sets' mean square deviation expected from their limits (:func:`expected_set_spread` of
        ``limit``), when the same limit serves many calls.

    Returns
    -------
    ndarray, shape (rows, cols // width, 2)
    """
    rows, cols = residual.shape
    parity = _parity(width)  # sums over even and odd columns as small matrix products (one pass each)
    values = residual.reshape(-1, width)
    half = np.float32(width // 2)
    offsets = (values @ parity) / half
    squares = np.multiply(values, values, out=(np.empty_like(values) if work is None else work.reshape(-1, width)))
    spread = (squares @ parity) / half - offsets**2
    bound = np.broadcast_to(np.asarray(limit, dtype=np.float32), (rows, cols)).reshape(-1, width)
    if expected_spread is None:
        expected_spread = expected_set_spread(limit, (rows, cols), width)
    suspect = np.flatnonzero((spread > 3.0 * expected_spread).any(axis=1))
    if suspect.size:
        some = values[suspect]
        keep = (np.abs(some - offsets[suspect] @ parity.T) < bound[suspect]).astype(np.float32)
        kept = keep @ parity
        mean = ((some * keep) @ parity) / np.maximum(kept, 1)
        offsets[suspect] = np.where(kept > 0, mean, np.float32(0.0))
    return offsets.astype(np.float32, copy=False).reshape(rows, cols // width, 2)


def remove_channel_row_offsets(residual: np.ndarray, width: int, limit: np.ndarray | float,
                               work: np.ndarray | None = None, expected_spread: np.ndarray | None = None) -> np.ndarray:
    """Subtract :func:`channel_row_offsets` from ``residual`` (rows, cols) in place and return them."""
    offsets = channel_row_offsets(residual, width, limit, work, expected_spread)
    residual.reshape(-1, width)[...] -= offsets.reshape(-1, 2) @ _parity(width).T
    return offsets
