"""Small jumps found with all the reads: a test for one step in a ramp at every read.

The two-point test (:mod:`hxrg_denoiser.classical.jumps`) compares one read difference with its noise,
``sqrt(2) s`` for read noise ``s``: a cosmic ray of 4.5 ``s`` early in a ramp passes it at 5 sigmas,
yet biases the slope. Here every pixel's ramp is fitted, for each place ``j`` (between reads ``j`` and
``j + 1``), with one slope and two levels, before and after; the step is the difference of the levels,

    J_j = mean(after) - mean(before) - f_j * n / 2,

``f_j`` the slope pooled over both segments, ``n`` the number of reads. Its variance is
``s^2 R_j + F P_j``: white read noise (``R_j = 1/n1 + 1/n2 + (n/2)^2 / Sxx``) and the shot noise of a
flux ``F`` electrons per frame, a random walk over the reads (``P_j`` from the same coefficients). A
step ``J_j`` at the centre of 20 reads has 0.64 times the noise of one difference (with ``n1 = 3``,
0.57), so it is found at less than half the size.

The largest ``J_j / sigma_j`` of a pixel is a jump above :func:`step_threshold` sigmas, which holds
the false flags of Gaussian noise near :data:`FALSE_FLAGS` per pixel whatever the number of reads. The
test is one-sided: a cosmic ray adds charge (the two-point test finds large steps of either sign).

:func:`step_statistics` gives every ``J_j / sigma_j`` at once (a ``(n_reads - 1, n_pixels)`` array);
:func:`largest_steps` gives each pixel's largest and where, the same numbers bit for bit, in a loop compiled
with numba over blocks of pixels that stay in the processor's cache, without the ``(n_reads - 1, n_pixels)``
arrays (5x faster than numpy doing the same one place at a time).
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from scipy.special import ndtri

from hxrg_denoiser.threads import run_compiled

__all__ = ["step_statistics", "largest_steps", "step_jumps", "step_threshold", "FALSE_FLAGS"]

FALSE_FLAGS = 6e-5  # per pixel of Gaussian noise, over all the places a step is tried (the two-point test adds ~2e-5)


def step_threshold(n_reads: int, false_flags: float = FALSE_FLAGS) -> float:
    """Sigmas above which the largest of a pixel's ``n_reads - 1`` step statistics is a jump (one-sided,
    Bonferroni over the places tried)."""
    return float(-ndtri(false_flags / max(n_reads - 1, 1)))


@lru_cache(maxsize=64)
def _coefficients(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per place ``j`` (0 .. n-2): the read-noise and the shot-noise variance factors ``R_j``, ``P_j``."""
    k = np.arange(n, dtype=np.float64)
    read_factor, shot_factor = np.empty(n - 1), np.empty(n - 1)
    for j in range(n - 1):
        before, after = k[: j + 1], k[j + 1:]
        sxx = ((before - before.mean()) ** 2).sum() + ((after - after.mean()) ** 2).sum()
        c = np.concatenate([-1.0 / before.size - (n / 2) * (before - before.mean()) / sxx,
                            1.0 / after.size - (n / 2) * (after - after.mean()) / sxx])
        read_factor[j] = (c**2).sum()
        tails = np.cumsum(c[::-1])[::-1][1:]  # a frame's charge stays in every later read
        shot_factor[j] = (tails**2).sum()
    return read_factor, shot_factor


@lru_cache(maxsize=64)
def _places(n: int) -> tuple[np.ndarray, ...]:
    """Per place ``j`` (column vectors, float32): ``1 / n1``, ``1 / n2``, the two segments' mean read
    indices, ``1 / Sxx``, and the read-noise and shot-noise variance factors."""
    n1 = np.arange(1, n, dtype=np.float64)[:, None]
    n2 = n - n1
    sxx = n1 * (n1**2 - 1) / 12 + n2 * (n2**2 - 1) / 12
    read_factor, shot_factor = _coefficients(n)
    return tuple(a.astype(np.float32) for a in (1 / n1, 1 / n2, (n1 - 1) / 2, (n1 + n - 1) / 2, 1 / sxx,
                                                 read_factor[:, None], shot_factor[:, None]))


def _running_sum(values: np.ndarray) -> np.ndarray:
    """``np.cumsum(values, axis=0)``, one read at a time (numpy's cumsum along the first axis is several
    times slower on wide arrays)."""
    out = np.empty_like(values)
    out[0] = values[0]
    for k in range(1, values.shape[0]):
        np.add(out[k - 1], values[k], out=out[k])
    return out


def step_statistics(reads: np.ndarray, flux: np.ndarray, read_noise: float | np.ndarray) -> np.ndarray:
    """The step statistic ``J_j / sigma_j`` of every place ``j`` of every pixel.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, n_pixels), electrons
    flux : ndarray, shape (n_pixels,)
        Electrons per frame, for the shot noise (negative values count as 0).
    read_noise : float or ndarray of shape (n_pixels,)
        Per read, electrons.

    Returns
    -------
    ndarray, shape (n_reads - 1, n_pixels), float32
    """
    n = reads.shape[0]
    inv_n1, inv_n2, mean_k1, mean_k2, inv_sxx, read_factor, shot_factor = _places(n)
    flux = np.maximum(np.nan_to_num(np.asarray(flux, dtype=np.float32)), np.float32(0.0))
    # each ramp less its first read and the line of its flux: small numbers, summed in float32 without loss
    k = np.arange(n, dtype=np.float32)[:, None]
    y = (reads - reads[:1]) - k * flux[None, :]
    level = np.abs(reads[0]).astype(np.float32)
    s_before = _running_sum(y)
    t_before = _running_sum(k * y)
    s_total, t_total = s_before[-1], t_before[-1]
    s_before, t_before = s_before[:-1], t_before[:-1]
    # pooled slope: (t_before - k1 s_before + t_after - k2 s_after) / Sxx with the after sums the totals' rest
    slope = (t_total - mean_k2 * s_total + (mean_k2 - mean_k1) * s_before) * inv_sxx
    step = (s_total - s_before) * inv_n2 - s_before * inv_n1 - slope * np.float32(n / 2)
    # float32 reads carry rounding of a few parts in 1e7 of their level: a floor under the read noise
    rounding = np.float32(4.0 * np.finfo(np.float32).eps) * level
    noise = np.asarray(read_noise, dtype=np.float32) ** 2 + rounding**2
    variance = noise * read_factor + flux * shot_factor
    return step / np.sqrt(variance)


def largest_steps(reads: np.ndarray, flux: np.ndarray, read_noise: float | np.ndarray,
                  offsets: tuple[np.ndarray, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's largest step statistic and its place, in one compiled pass over each block of pixels.

    The statistics are those of :func:`step_statistics`, the same operations in the same precision and order
    (bit for bit), without its ``(n_reads - 1, n_pixels)`` arrays: the kernel (:func:`_largest_steps_kernel`,
    compiled by numba and cached on disk) takes blocks of pixels that stay in the processor's cache, in
    numba's threads. A NaN statistic is never the largest (a pixel with no other gives ``-inf`` at place 0),
    so a pixel's largest is above a positive threshold exactly where ``nan_to_num(z).max(axis=0)`` is, at
    the same place.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, n_pixels), electrons
    flux : ndarray, shape (n_pixels,)
    read_noise : float or ndarray of shape (n_pixels,)
    offsets : (ndarray, int), optional
        ``(values, width)``: values of shape ``(n_reads, n_pixels // width * 2)``, float32, subtracted from the
        reads first (pixel ``p`` takes column ``p // width * 2 + p % 2``: its channel row's value for the parity
        of its column, ``width`` pixels per channel row), as :func:`step_statistics` of ``reads`` less them.

    Returns
    -------
    largest : ndarray, shape (n_pixels,), float32 (float64 for float64 reads)
    place : ndarray, shape (n_pixels,), int64
    """
    n, n_pixels = reads.shape
    inv_n1, inv_n2, mean_k1, mean_k2, inv_sxx, read_factor, shot_factor = (np.ascontiguousarray(a[:, 0])
                                                                           for a in _places(n))
    gap = mean_k2 - mean_k1  # float32, element by element as step_statistics forms it
    flux = np.maximum(np.nan_to_num(np.asarray(flux, dtype=np.float32)), np.float32(0.0))
    noise = np.broadcast_to(np.asarray(read_noise, dtype=np.float32) ** 2, (n_pixels,))
    work = np.result_type(reads.dtype, np.float32)
    values, width = (np.zeros((1, 1), dtype=work), 0) if offsets is None else \
        (np.asarray(offsets[0], dtype=work), int(offsets[1]))
    if width and (n_pixels % width or width % 2 or values.shape != (n, n_pixels // width * 2)):
        raise ValueError(f"offsets of shape {values.shape} and width {width} for {n_pixels} pixels of {n} reads")
    arguments = (np.asarray(reads, dtype=work), np.ascontiguousarray(flux), np.ascontiguousarray(noise),
                 values, width, np.float32(4.0 * np.finfo(np.float32).eps),
                 inv_n1, inv_n2, mean_k2, gap, inv_sxx, read_factor, shot_factor, _BLOCK)
    return run_compiled(_kernel(), *arguments)


_BLOCK = 2048  # pixels a kernel's thread keeps in cache: 100 reads of 2048 float32 pixels are 800 kB


@lru_cache(maxsize=1)
def _kernel():
    """:func:`_largest_steps_kernel` compiled (its machine code is cached on disk: compiled once per install)."""
    return numba.njit(cache=True, nogil=True, parallel=True, boundscheck=False, error_model="numpy")(_largest_steps_kernel)


def _largest_steps_kernel(reads, flux, noise, offsets, width, eps4, inv_n1, inv_n2, mean_k2, gap, inv_sxx,
                          read_factor, shot_factor, block):
    """The loop :func:`largest_steps` compiles: blocks of ``block`` pixels side by side in numba's threads; in
    each, the ramps (less their offsets where ``width``) less their first read and the line of their flux
    (``y``), their sums, then at each place the pooled slope, the step and its statistic, the largest kept.
    Every operand is float32 (float64 with float64 reads), as in :func:`step_statistics`; the inner loops
    run over contiguous slices, which the compiler vectorises."""
    n, n_pixels = reads.shape
    largest = np.empty(n_pixels, dtype=reads.dtype)
    place = np.zeros(n_pixels, dtype=np.int64)
    half = np.float32(n / 2)
    for b in numba.prange((n_pixels + block - 1) // block):
        start = b * block
        size = min(start + block, n_pixels) - start
        fl = flux[start:start + size]
        y = np.empty((n, size), dtype=reads.dtype)
        first = np.empty(size, dtype=reads.dtype)
        column = np.empty(size, dtype=np.int64)
        if width:
            for i in range(size):
                column[i] = (start + i) // width * 2 + (start + i) % 2
                first[i] = reads[0, start + i] - offsets[0, column[i]]
        else:
            first[:] = reads[0, start:start + size]
        sigma2 = np.empty(size, dtype=noise.dtype)
        for i in range(size):  # float32 reads carry rounding of a few parts in 1e7 of their level
            rounding = eps4 * np.float32(np.abs(first[i]))
            sigma2[i] = noise[start + i] + rounding * rounding
        for j in range(n):
            k = np.float32(j)
            yj, rj = y[j], reads[j, start:start + size]
            if width:
                oj = offsets[j]
                for i in range(size):
                    yj[i] = ((rj[i] - oj[column[i]]) - first[i]) - k * fl[i]
            else:
                for i in range(size):
                    yj[i] = (rj[i] - first[i]) - k * fl[i]
        s_total = y[0].copy()
        t_total = np.float32(0.0) * y[0]
        for j in range(1, n):
            k = np.float32(j)
            yj = y[j]
            for i in range(size):
                s_total[i] += yj[i]
                t_total[i] += k * yj[i]
        s_before = np.zeros(size, dtype=reads.dtype)
        best = np.full(size, -np.inf, dtype=reads.dtype)
        where = np.zeros(size, dtype=np.int64)
        for j in range(n - 1):
            k2, g, s_xx, n1, n2 = mean_k2[j], gap[j], inv_sxx[j], inv_n1[j], inv_n2[j]
            r, p = read_factor[j], shot_factor[j]
            yj = y[j]
            for i in range(size):
                before = s_before[i] + yj[i]
                s_before[i] = before
                slope = (t_total[i] - k2 * s_total[i] + g * before) * s_xx
                step = (s_total[i] - before) * n2 - before * n1 - slope * half
                z = step / np.sqrt(sigma2[i] * r + fl[i] * p)
                higher = z > best[i]
                best[i] = z if higher else best[i]
                where[i] = j if higher else where[i]
        largest[start:start + size] = best
        place[start:start + size] = where
    return largest, place


def step_jumps(reads: np.ndarray, flux: np.ndarray, read_noise: float | np.ndarray, *,
               threshold: float | None = None,
               offsets: tuple[np.ndarray, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The pixels whose ramp holds a step above ``threshold`` sigmas, and where.

    Parameters
    ----------
    reads : ndarray, shape (n_reads, n_pixels), electrons
        Pixels to test (unsaturated, no jump found yet).
    flux : ndarray, shape (n_pixels,)
    read_noise : float or ndarray of shape (n_pixels,)
    threshold : float, optional
        Default :func:`step_threshold` of the number of reads.
    offsets : (ndarray, int), optional
        What to subtract from the reads before the test (each read's channel-row offsets), as
        :func:`largest_steps` takes it.

    Returns
    -------
    pixels : ndarray of int, shape (m,)
        Indices into ``n_pixels`` of the pixels with a rise (charge added) above the threshold.
    places : ndarray of int, shape (m,)
        The read difference (``j``: between reads ``j`` and ``j + 1``) of each one's step.
    """
    n, n_pixels = reads.shape
    if n < 3 or n_pixels == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    limit = step_threshold(n) if threshold is None else threshold
    largest, worst = largest_steps(reads, flux, read_noise, offsets)
    hit = np.flatnonzero(largest > limit)
    return hit.astype(np.int64), worst[hit].astype(np.int64)
