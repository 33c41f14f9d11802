"""A fixed pattern of the readout whose amplitude changes from read to read (a picture frame), learnt on darks.

Some detectors add to every read a smooth pattern of the electronics, the same shape each time with an
amplitude of its own (NGHXRG's "PCA-0" picture frame). Where the reference pixels see it many times more
strongly than the interior, a reference correction that subtracts what they see injects it, and one that
keeps slow structure as scene keeps it. Its shape can be learnt on darks and its amplitude measured in each
read of an exposure, where it is strongest: on the reference pixels.

Learning (:func:`learn_frame_template`), on darks (each pixel's line over the reads removed, so that bias,
dark current and hot pixels go):

1. **Amplitudes.** The reference pixels' residuals of every read of every dark are stacked, one row per
   read; the leading eigenvector of their read-by-read Gram matrix is the pattern's amplitude in each read
   (a pattern that changes its shape from read to read, 1/f noise say, spreads over many eigenvectors).
2. **Template.** Every pixel's residuals regressed on those amplitudes: the pattern per unit amplitude,
   reference and science pixels each smoothed over :data:`SMOOTHING` pixels of their own kind, since the
   pattern is smooth and the regression of one pixel is noisy.
3. **Held out.** The same is learnt on the even reads only (``LearntTemplate.even``), so that the
   calibration can try it on the odd ones as on an exposure: a pattern the reference pixels do not see, a
   reset transient say, can be learnt but not measured.

Applied to an exposure (:meth:`FrameTemplate.amplitudes`), the amplitude of each read is the least-squares
fit of the template to its reference pixels (the read 0 subtracted), a constant and a line over the rows
fitted beside it (a level and a drift over the frame's readout are the reference correction's to remove,
not the pattern's: a frame brighter at one end than the other would otherwise take them for itself);
``amplitude * template`` is then subtracted from every pixel before the reference correction. Whether a calibration uses a template
at all is the darks' to say (:mod:`hxrg_denoiser.classical.sirs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["FrameTemplate", "LearntTemplate", "learn_frame_template", "reference_residuals", "SMOOTHING"]

SMOOTHING = 9  # pixels of the box that smooths the science pixels' template
BAND_ROWS = 32  # rows read at a time

# Electrons of image rows ``start:stop`` of every read of a ramp: ``(n_reads, stop - start, n_cols)``.
RowReader = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class FrameTemplate:
    """A pattern of the readout, per unit of its amplitude.

    Attributes
    ----------
    image : ndarray, shape (n_rows, n_cols), float32
        Electrons per unit amplitude, every pixel (reference pixels included).
    """

    image: np.ndarray

    def weights(self, geometry: ReadoutGeometry) -> np.ndarray:
        """What each reference pixel (in :meth:`ReadoutGeometry.reference_mask` order) contributes to a read's
        amplitude, shape ``(n_reference,)``: the template there less its least-squares fit by a constant and
        a line over the rows, over its squared norm. A level and a drift over the frame's readout, which every
        read has of its own (the slowest 1/f noise), then contribute nothing."""
        mask = geometry.reference_mask
        t = self.image[mask].astype(np.float64)
        rows = np.nonzero(mask)[0] / max(1, geometry.n_rows - 1)
        nuisance = np.stack([np.ones_like(rows), rows], axis=1)
        t -= nuisance @ np.linalg.lstsq(nuisance, t, rcond=None)[0]
        norm = float(t @ t)
        return t / norm if norm > 0 else t

    def amplitudes(self, rows: RowReader, geometry: ReadoutGeometry, n_reads: int) -> np.ndarray:
        """The template's amplitude in every read of a ramp (read 0's is 0), shape ``(n_reads,)``, from its
        reference pixels read through ``rows`` (electrons)."""
        return reference_residuals(rows, geometry, n_reads, detrend=False) @ self.weights(geometry)

    def subtract(self, reads: np.ndarray, amplitudes: np.ndarray, row_start: int) -> None:
        """Subtract ``amplitudes[k] * template`` from read ``k`` of a band of rows starting at image row
        ``row_start``, ``reads`` shape ``(n_reads, rows, n_cols)`` (in place)."""
        band = self.image[row_start : row_start + reads.shape[1]]
        for k in range(reads.shape[0]):
            if amplitudes[k] != 0:
                reads[k] -= np.float32(amplitudes[k]) * band


def _detrended(band: np.ndarray) -> np.ndarray:
    """Each pixel's reads less its least-squares line over them, float64, same shape ``(n_reads, ...)``."""
    n = band.shape[0]
    k = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    values = band.astype(np.float64)
    mean = values.mean(axis=0)
    slope = np.tensordot(k / max(float(k @ k), 1.0), values, axes=(0, 0))
    values -= mean
    values -= k.reshape((n,) + (1,) * (band.ndim - 1)) * slope
    return values


def reference_residuals(rows: RowReader, geometry: ReadoutGeometry, n_reads: int, *,
                        detrend: bool = True) -> np.ndarray:
    """The reference pixels of every read, shape ``(n_reads, n_reference)`` (mask order), float64: each pixel
    less its line over the reads (``detrend``), else less its read 0."""
    mask = geometry.reference_mask
    out = np.empty((n_reads, int(mask.sum())))
    filled = 0
    for start in range(0, geometry.n_rows, BAND_ROWS):
        stop = min(geometry.n_rows, start + BAND_ROWS)
        band_mask = mask[start:stop]
        count = int(band_mask.sum())
        if count == 0:
            continue
        values = rows(start, stop)[:, band_mask].astype(np.float64)
        out[:, filled : filled + count] = _detrended(values) if detrend else values - values[:1]
        filled += count
    return out


def _smoothed(template: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The template averaged over a box of :data:`SMOOTHING` pixels of ``mask`` only, where ``mask``; unchanged
    elsewhere. The box mixes even and odd columns: a pattern that alternates from column to column (the
    even/odd samplers', which the reference correction measures) is not the template's."""
    weight = ndimage.uniform_filter(mask.astype(np.float64), size=SMOOTHING, mode="nearest")
    total = ndimage.uniform_filter(np.where(mask, template, 0.0), size=SMOOTHING, mode="nearest")
    return np.where(mask, total / np.maximum(weight, 1e-12), template)


@dataclass(frozen=True)
class LearntTemplate:
    """What :func:`learn_frame_template` finds.

    Attributes
    ----------
    template : FrameTemplate
        Per unit amplitude (the amplitudes over all the darks' reads have unit norm).
    dominance : float
        The leading eigenvalue of the reference pixels' read-by-read Gram matrix over the next: how much more
        the pattern carries than anything else they see (near 1 where nothing stands out).
    even : FrameTemplate
        The same, learnt on the even reads only (read 0, 2, ...): what it does to the odd reads tells whether
        it holds on reads it has not seen.
    """

    template: FrameTemplate
    dominance: float
    even: FrameTemplate


def _leading(residuals: np.ndarray) -> tuple[np.ndarray, float]:
    """The leading eigenvector of ``residuals @ residuals.T`` and its eigenvalue over the next."""
    values, vectors = np.linalg.eigh(residuals @ residuals.T)
    ratio = float(values[-1] / values[-2]) if len(values) > 1 and values[-2] > 0 else float("inf")
    return vectors[:, -1], ratio


def learn_frame_template(darks: Sequence[RowReader], geometry: ReadoutGeometry,
                         reads: Sequence[int]) -> LearntTemplate:
    """The pattern of the darks' reads that their reference pixels see most (see the module description).

    Parameters
    ----------
    darks : sequence of callables
        ``rows(start, stop)`` of each dark: electrons, shape ``(n_reads, stop - start, n_cols)``.
    geometry : ReadoutGeometry
    reads : sequence of int
        Reads of each dark.
    """
    g = geometry
    reference, science = g.reference_mask, ~g.reference_mask
    residuals = np.concatenate([reference_residuals(rows, g, n) for rows, n in zip(darks, reads)])
    even = np.concatenate([np.arange(n) % 2 == 0 for n in reads])
    amplitudes, dominance = _leading(residuals)
    learning = np.zeros_like(amplitudes)
    learning[even] = _leading(residuals[even])[0]
    template, learnt = np.zeros(g.shape), np.zeros(g.shape)
    offset = 0
    for rows, n in zip(darks, reads):
        own, own_learning = amplitudes[offset : offset + n], learning[offset : offset + n]
        for start in range(0, g.n_rows, BAND_ROWS):
            stop = min(g.n_rows, start + BAND_ROWS)
            band = _detrended(rows(start, stop))
            template[start:stop] += np.tensordot(own, band, axes=(0, 0))
            learnt[start:stop] += np.tensordot(own_learning, band, axes=(0, 0))
        offset += n
    found = []
    for image, weights in ((template, amplitudes), (learnt, learning)):
        image = _smoothed(_smoothed(image / max(float(weights @ weights), 1e-300), science), reference)
        if image[reference].mean() < 0:  # a sign of its own: positive on the reference pixels
            image = -image
        found.append(FrameTemplate(image.astype(np.float32)))
    return LearntTemplate(found[0], dominance, found[1])
