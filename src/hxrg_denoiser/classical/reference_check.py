"""A per-exposure check that the reference correction removes noise rather than adds it.

Reference pixels see no light, so a reference correction is an estimate made
without the science pixels; the science pixels that hold no light (found in
each image itself) are an independent check of it. For each candidate image
(the same ramp fitted with and without the correction) the check measures
the structure left in the dark pixels where the reference correction acts,
two ways: the spread of the mean of every channel's dark pixels in every row
(row structure), and the mean square of the dark pixels themselves (every
structure: a smooth offset or gradient that the row means hardly show, a pattern
within a channel's row). A correction that follows the detector lowers both;
reference pixels that see a pattern the interior does not (a picture frame many
times stronger) raise one or the other, and the image without the correction is
then the better input. Both images come from the same reads, so their white noise
and any faint light in the dark pixels are the same and cancel in the comparison.
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.classical.background import lit_pixels
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.stats import mad_sigma

__all__ = ["dark_row_structure", "dark_structure", "choose_reference_correction", "preference", "PREFERENCE",
           "READ_PREFERENCE", "CORRECTED_READ_PREFERENCE", "BLIND_PREFERENCE"]

PREFERENCE = 0.9  # the image without correction must leave 10 % less structure to be chosen
# or its channels' dark levels must move from read to read under half as much as the corrected one's: a
# correction that removes row noise may move them a little, one that misleads moves them by many times
READ_PREFERENCE = 0.5
# and the corrected image is kept, whatever the dark pixels' structure says, where its channels' dark levels move
# under 0.7 times as much as the plain one's: the correction removes what every read's level carries, which a
# plain image keeps as a drifting level per channel (a JWST imaging field whose sky left more row structure in the
# corrected dark pixels: the plain fit's aperture photometry was biased by -119 e-, twice the error)
CORRECTED_READ_PREFERENCE = 0.7
# Where the read levels cannot be measured (too few channels x reads), a global offset of every read in the plain
# image is invisible to the check (its dark pixels show structure, not a level): the plain image must then leave
# at most half the corrected one's structure (a 32 x 128 array of 4 channels and 6 reads took it on 7 of 30 echelle
# exposures at PREFERENCE, one with 1.45x the corrected fit's pixel error).
BLIND_PREFERENCE = 0.5


def _dark_mask(images: list[np.ndarray], geometry: ReadoutGeometry) -> np.ndarray:
    science = ~geometry.reference_mask
    dark = science.copy()
    for image in images:
        usable = science & np.isfinite(image)
        dark &= usable & ~lit_pixels(np.where(usable, image, 0.0), usable)
    return dark


def dark_row_structure(image: np.ndarray, dark: np.ndarray, geometry: ReadoutGeometry, min_fraction: float = 0.25) -> float:
    """Mean square, about their median, of the means of each channel's dark pixels in each row (e-^2).

    Channel rows with fewer than ``min_fraction`` dark pixels are left out; NaN when none is left.
    """
    values = geometry.to_readout_order(np.where(dark, image, 0.0).astype(np.float64))  # rows, channels, width
    counts = geometry.to_readout_order(dark).sum(axis=-1)
    keep = counts >= min_fraction * geometry.channel_width
    if keep.sum() < 8:
        return float("nan")
    means = values.sum(axis=-1)[keep] / counts[keep]
    return float(np.mean((means - np.median(means)) ** 2))


def _row_count(dark: np.ndarray, geometry: ReadoutGeometry, min_fraction: float = 0.25) -> int:
    """Channel rows :func:`dark_row_structure` measures (those with ``min_fraction`` of their pixels dark)."""
    return int((geometry.to_readout_order(dark).sum(axis=-1) >= min_fraction * geometry.channel_width).sum())


def preference(count: int) -> float:
    """:data:`PREFERENCE`, stricter where few values measure a structure: the ratio of two mean squares of ``count``
    values scatters by about ``sqrt(2 / count)``, and the plain image is taken only beyond twice that (under
    800 channel rows: a 64-row NIRPS strip measures 1,800, a 256-row JWST strip about 1,000)."""
    return min(PREFERENCE, 1.0 - 2.0 * float(np.sqrt(2.0 / max(count, 1))))


def dark_structure(image: np.ndarray, dark: np.ndarray, clip: float) -> float:
    """Mean square, about their median, of the dark pixels of ``image`` (e-^2), each value clipped at
    ``clip`` electrons from the median (a hot pixel or a cosmic ray's trace would outweigh the rest)."""
    values = image[dark].astype(np.float64)
    if values.size < 100:
        return float("nan")
    return float(np.mean(np.clip(values - np.median(values), -clip, clip) ** 2))


def choose_reference_correction(
    corrected: np.ndarray, plain: np.ndarray, geometry: ReadoutGeometry,
    read_offsets: tuple[float | None, float | None] = (None, None),
) -> tuple[bool, dict[str, float]]:
    """Whether to keep the reference-corrected image (True) or take the plain one, and the measures.

    The plain image is taken only when it leaves clearly less structure in the
    dark pixels (less than :data:`PREFERENCE` times the corrected one's, stricter where
    few values measure it, :func:`preference`; :data:`BLIND_PREFERENCE` where the read
    levels below are not measured), row
    structure (:func:`dark_row_structure`, measures ``corrected`` and ``plain``) or
    all of it (:func:`dark_structure`, ``corrected_all`` and ``plain_all``); or when
    its channels' dark levels move clearly less from read to read (``read_offsets``,
    corrected and plain, as the fits measured them:
    :func:`~hxrg_denoiser.classical.start_transient.read_offset_scatter`; less than
    :data:`READ_PREFERENCE` times the corrected one's; ``corrected_reads``, ``plain_reads``). The corrected
    image is kept whatever its dark pixels' structure where its levels move less than
    :data:`CORRECTED_READ_PREFERENCE` times the plain one's.
    """
    dark = _dark_mask([corrected, plain], geometry)
    measures = {"corrected": dark_row_structure(corrected, dark, geometry),
                "plain": dark_row_structure(plain, dark, geometry)}
    if dark.sum() >= 100:
        clip = 10.0 * mad_sigma(plain[dark])
        measures["corrected_all"] = dark_structure(corrected, dark, clip)
        measures["plain_all"] = dark_structure(plain, dark, clip)

    corrected_reads, plain_reads = (float(v) if v is not None and np.isfinite(v) else None for v in read_offsets)
    levels = corrected_reads is not None and plain_reads is not None
    counts = {"": _row_count(dark, geometry), "_all": int(dark.sum())}

    def prefers_plain(kind: str) -> bool:
        a, b = measures.get(f"plain{kind}", np.nan), measures.get(f"corrected{kind}", np.nan)
        limit = preference(counts[kind]) if levels else min(preference(counts[kind]), BLIND_PREFERENCE)
        return bool(np.isfinite(a) and np.isfinite(b) and a < limit * b)

    keep = not (prefers_plain("") or prefers_plain("_all"))
    if corrected_reads is not None and plain_reads is not None:
        measures["corrected_reads"], measures["plain_reads"] = corrected_reads, plain_reads
        keep = (keep or corrected_reads < CORRECTED_READ_PREFERENCE * plain_reads) \
            and not plain_reads < READ_PREFERENCE * corrected_reads
    return keep, measures
