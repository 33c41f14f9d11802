"""Saturation seen in the ramps themselves: a plateau at the top of a pixel's ramp.

Without a saturation level (no ``--saturation``, no JWST ``GROUPDQ``), a pixel that fills its well keeps
reporting the same level: its last reads stop rising. Fitted as they are, they pull its flux far down. A
pixel's reads from the start of a trailing run that all lie within :data:`PLATEAU_SIGMAS` sigmas of a
difference of two reads (``sqrt(2)`` read-noise sigmas) from its top (the median of its last 3 reads) count
as saturated when every read difference before the run (the one into its first read aside: the well may
fill part way through it) rises by at least :data:`RISE_SIGMAS` read-noise sigmas: a steady rise, not the
one step a cosmic ray makes on a faint pixel. A pixel that rises that fast cannot stay that flat for two
reads by chance (its differences are 3 times the run's tolerance), so unsaturated pixels are never taken.
The rise must be seen on at least :data:`MIN_RISING_DIFFERENCES` differences: one step followed by a flat
ramp is what a cosmic ray makes on a faint pixel (a 300 e- hit in the first difference of a 1 e- per read
pixel, some of its charge in the next read, would otherwise pass for a plateau from read 2 and lose the
pixel its flux). A run from read 2 therefore needs the difference into it to rise as well (a well that
fills at read 2, not part way through); a pixel full by its second read, or part way through its third, is
left to the jump test and to a saturation map. The per-read noise is measured on the band's own second
differences (robust, signal-free), on a sample of its columns.

Only pixels whose first read difference already rises by :data:`RISE_SIGMAS` sigmas can be taken (the
least rise before the run includes it), so the run is looked for on those alone: a dark or faint band
costs one difference image.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["plateau_start", "band_read_noise", "PLATEAU_SIGMAS", "RISE_SIGMAS", "MIN_PLATEAU_READS",
           "MIN_RISING_DIFFERENCES"]

PLATEAU_SIGMAS = 4.0  # reads this close to the top (in sigmas of a difference of two reads) are on the plateau
RISE_SIGMAS = 3 * PLATEAU_SIGMAS * float(np.sqrt(2.0))  # the rise per read before the plateau, read-noise sigmas
TOP_READS = 3  # the top is the median of this many last reads
MIN_PLATEAU_READS = 2
MIN_RISING_DIFFERENCES = 2  # differences before the run's first read (that one aside) that must all rise
NOISE_SAMPLES = 1 << 21  # second differences the band's noise is measured on, at most (its median to ~0.1 %)


def band_read_noise(reads: np.ndarray) -> float:
    """The per-read noise of a band of reads, from the median absolute second difference over every pixel
    (a straight ramp has none; white noise of ``sigma`` gives ``sqrt(6) sigma``).

    Parameters
    ----------
    reads : ndarray, shape (n_reads, rows, n_cols)

    Returns
    -------
    float
        Input units; 0 under 3 reads.
    """
    if reads.shape[0] < 3:
        return 0.0
    # every stride-th column, the stride odd so that even and odd columns (which may differ) both count
    stride = max(1, (reads.shape[0] - 2) * reads.shape[1] * reads.shape[2] // NOISE_SAMPLES) | 1
    if reads.dtype in (np.float32, np.float64):
        second = _sampled_second_differences(reads, stride)
    else:  # integers: numpy's own arithmetic
        sampled = reads[:, :, ::stride]
        second = np.abs(sampled[2:] - 2 * sampled[1:-1] + sampled[:-2]).reshape(-1)
    return float(1.4826 * exact_median(second) / np.sqrt(6.0))


def exact_median(values: np.ndarray) -> np.floating:
    """``np.median(values)`` of a 1-D float array, the same value, from one partition (``np.median`` makes two,
    and a third for its NaN check): NaN where any value is."""
    n = values.size
    if n == 0 or values.dtype.kind != "f" or np.isnan(values).any():
        return np.median(values)
    middle = n // 2
    part = np.partition(values, middle)
    if n % 2:
        return part[middle]
    return np.mean(np.array([part[:middle].max(), part[middle]], dtype=values.dtype))


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _sampled_second_differences(reads, stride):  # pragma: no cover - compiled
    """``abs(r[2:] - 2 r[1:-1] + r[:-2])`` of every ``stride``-th column of ``reads`` (n_reads, rows, cols),
    flattened, computed as numpy computes it (in the reads' precision), in one pass over the columns taken."""
    n, rows, cols = reads.shape
    taken = (cols + stride - 1) // stride
    out = np.empty((n - 2) * rows * taken, dtype=reads.dtype)
    at = 0
    for k in range(n - 2):  # a read at a time, as the reads lie in memory
        for y in range(rows):
            for x in range(0, cols, stride):
                before, middle, after = reads[k, y, x], reads[k + 1, y, x], reads[k + 2, y, x]
                out[at] = abs((after - (middle + middle)) + before)
                at += 1
    return out


def plateau_start(reads: np.ndarray, noise: float) -> np.ndarray:
    """Each pixel's first read on a plateau at the end of its ramp (see the module), ``n_reads`` where none.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, rows, n_cols)
        Raw reads (input units).
    noise : float
        Per-read noise (input units), e.g. :func:`band_read_noise`.

    Returns
    -------
    ndarray, shape (rows, n_cols), int32
    """
    n_reads = reads.shape[0]
    none = np.full(reads.shape[1:], n_reads, dtype=np.int32)
    if n_reads < MIN_PLATEAU_READS + 1 or not noise > 0:
        return none
    rise = RISE_SIGMAS * noise
    rows, cols = np.nonzero(reads[1] - reads[0] >= rise)  # the only pixels that can be taken
    if rows.size == 0:
        return none
    ramps = reads[:, rows, cols]  # (n_reads, candidates)
    top = np.median(ramps[-TOP_READS:], axis=0)
    at_top = np.abs(ramps - top) <= PLATEAU_SIGMAS * np.sqrt(2.0) * noise
    trailing = np.logical_and.accumulate(at_top[::-1], axis=0)[::-1]  # True from the plateau's start on
    start = (n_reads - trailing.sum(axis=0)).astype(np.int32)
    candidate = (start >= 2) & (n_reads - start >= MIN_PLATEAU_READS)
    if not candidate.any():
        return none
    ramps, rows, cols, first = ramps[:, candidate], rows[candidate], cols[candidate], start[candidate]
    least_rise = np.minimum.accumulate(np.diff(ramps, axis=0), axis=0)  # (n_reads - 1, candidates)
    # the differences before the run's first read, that one aside, or the first MIN_RISING_DIFFERENCES
    evidence = np.maximum(first - 2, MIN_RISING_DIFFERENCES - 1)
    saturated = least_rise[evidence, np.arange(rows.size)] >= rise
    none[rows[saturated], cols[saturated]] = first[saturated]
    return none
