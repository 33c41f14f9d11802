"""The exposure fitted on consecutive segments of its reads: what tells the scene from noise of its shape.

A cleaning that keeps the scene (``--clean`` and ``hxrg denoise``, unless ``--no-keep-background``) asks whether
what it would keep or remove accumulates like charge (the same in every segment) or changes like read noise:
the smooth background (:func:`~hxrg_denoiser.classical.kept_background.background_evidence`) and, region by
region, the correction itself (:func:`~hxrg_denoiser.classical.correction_evidence.scene_share`). The segments
are fitted as the image was (the same reference correction, dark, maps and jump tests), without cleaning or
error check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hxrg_denoiser.classical.kept_background import RampSegments
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.io.product import FluxImage

__all__ = ["ramp_segments", "MIN_SEGMENT_READS", "MAX_SEGMENTS"]

MIN_SEGMENT_READS = 3  # fewest reads in a segment
MAX_SEGMENTS = 4  # the noise's power is then measured with 3 degrees of freedom per pattern (halves: 1)


def ramp_segments(fit: Callable[[FitOptions], FluxImage], options: FitOptions, first: int,
                  last: int) -> RampSegments | None:
    """The image of reads ``first`` to ``last`` fitted on each of up to :data:`MAX_SEGMENTS` consecutive segments.

    Parameters
    ----------
    fit : callable
        Fits the exposure with the options it is given.
    options : FitOptions
        The options the image was fitted with (its reference correction as chosen).
    first, last : int
        The reads the image used (indices from 0, ``last`` included).

    Returns
    -------
    RampSegments or None
        Segments of as equal length as the reads allow, each of at least :data:`MIN_SEGMENT_READS` reads;
        None where fewer than two such segments fit.
    """
    n_reads = last - first + 1
    count = min(MAX_SEGMENTS, n_reads // MIN_SEGMENT_READS)
    if count < 2:
        return None
    bounds = [first + (n_reads * k) // count for k in range(count + 1)]
    plain = dataclasses.replace(options, clean=False, keep_background=False, check_errors=False,
                                reference_check=False)
    images = [fit(dataclasses.replace(plain, first_read=start, last_read=stop - 1)).sci
              for start, stop in zip(bounds[:-1], bounds[1:])]
    return RampSegments(images, [stop - start for start, stop in zip(bounds[:-1], bounds[1:])])
