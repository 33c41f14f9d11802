"""What of a correlated-noise correction is scene: the test on segments of the ramp, region by region.

A cleaning (or a network) estimates read noise that has the readout's shape: levels of channels and rows,
the common mode, alternating columns. A scene can have those shapes too: extended emission and crowded
fields light whole rows and channels, a sky that the smooth background misses leaves levels per channel, the
slit's sky lines run along the rows. Taken for noise, they are removed: a nebula comes out with three times
the error of no cleaning at all, a crowded field's aperture photometry with twice.

Charge accumulates at a steady rate, so what the correction removes from the scene is the same when
segments of the ramp are fitted and corrected apart, while what it removes of the noise is not. In bands of
``band_rows`` rows and each output channel, ``F`` is the mean square of the correction over the noise's power
in it, measured by the scatter of the segments' corrections about their weighted mean (as
:func:`~hxrg_denoiser.classical.kept_background.background_evidence`); noise alone gives ``F`` near 1, and up
to about 2 where the noise is strong and slow (its slowest part is much the same in every segment). The share
``1 - MIN_EVIDENCE / F`` of the correction is withheld (given back to the image) where that is positive: what
accumulates like charge stays. With ``MIN_EVIDENCE`` 1.5 and the share ``1 - 1/F`` beyond it, crowded fields kept
more of their flux (raw photometry within 1 % of the reference-corrected fit's, against 1.2x) but bench-v2's
strong-noise echelles lost 2-6 % of their cleaning, and a corner-shaped frame that the reference pixels see 5x
kept a third of it; 2, the share beyond twice the noise's power, costs them under 1 % (chosen on bench-v2 and
bench-v3 cases: those figures are no longer blind to it).

Measured (``hxrg bench --suite bench-v3 --model default``; CHANGES.md): the nebula's pixel error falls back to
that of no cleaning, while echelles and star fields on a dark sky keep their correction.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.classical.kept_background import RampSegments, segment_deviations
from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["SceneShare", "scene_share", "scene_share_of_cleaning", "withheld", "MIN_EVIDENCE", "SHARE_BAND_ROWS"]

SHARE_BAND_ROWS = 64  # rows of a region, beside its channel
MIN_EVIDENCE = 2.0  # the noise's power the correction must exceed before any of it is withheld (see the module)


class SceneShare(NamedTuple):
    """The share of a correction withheld as scene, per pixel (``image``, float32 in [0, 1], constant over each
    region), its mean over science pixels, and ``F`` of each region, shape ``(bands, channels)``."""

    image: np.ndarray
    mean: float
    evidence: np.ndarray


def _band_starts(n_rows: int, band_rows: int) -> np.ndarray:
    """First row of each band of ``band_rows`` rows; the last band takes the rows left (at least one band)."""
    return np.arange(max(1, n_rows // band_rows)) * band_rows


def _region_sums(values: np.ndarray, geometry: ReadoutGeometry, starts: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (image order) over each band of rows (from ``starts``) and channel."""
    columns = values.reshape(geometry.n_rows, geometry.n_channels, geometry.channel_width).sum(axis=2)
    return np.add.reduceat(columns, starts, axis=0)


def scene_share(correction: np.ndarray, segment_corrections: list[np.ndarray], segments: RampSegments,
                geometry: ReadoutGeometry, *, band_rows: int = SHARE_BAND_ROWS,
                min_evidence: float = MIN_EVIDENCE) -> SceneShare:
    """The share of ``correction`` that accumulates like charge, region by region (see the module).

    Parameters
    ----------
    correction : ndarray, shape (n_rows, n_cols)
        What a cleaning removed from the image (image - cleaned), in the image's units; non-finite and
        reference pixels take no part.
    segment_corrections : list of ndarray, each (n_rows, n_cols)
        What the same cleaning removed from each segment's image (the exposure fitted on consecutive reads,
        scaled to the full ramp).
    segments : RampSegments
        The segments (their reads weigh their noise).
    geometry : ReadoutGeometry
    band_rows : int
    min_evidence : float

    Returns
    -------
    SceneShare
    """
    usable = ~geometry.reference_mask & np.isfinite(correction)
    for part in segment_corrections:
        usable &= np.isfinite(part)
    parts = [np.where(usable, part, 0.0) for part in segment_corrections]
    scatter = segment_deviations(parts, segments.n_reads) / (len(segment_corrections) - 1)
    starts = _band_starts(geometry.n_rows, band_rows)
    signal = _region_sums(np.where(usable, correction, 0.0).astype(np.float64) ** 2, geometry, starts)
    noise = _region_sums(scatter, geometry, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        evidence = np.where(noise > 0, signal / noise, np.where(signal > 0, np.inf, 0.0))
        share = np.clip(1.0 - min_evidence / evidence, 0.0, 1.0)
    rows = np.diff(np.r_[starts, geometry.n_rows])
    image = np.repeat(np.repeat(share, rows, axis=0), geometry.channel_width, axis=1).astype(np.float32)
    image[geometry.reference_mask] = 0.0
    science = ~geometry.reference_mask
    return SceneShare(image, float(image[science].mean()) if science.any() else 0.0, evidence)


def withheld(image: np.ndarray, corrected: np.ndarray, share: SceneShare) -> np.ndarray:
    """``corrected`` with the scene's share of the correction (``image - corrected``) given back, float32."""
    result = corrected + (image - corrected) * share.image
    return np.where(np.isfinite(result), result, corrected).astype(np.float32)


def scene_share_of_cleaning(image: np.ndarray, geometry: ReadoutGeometry, segments: RampSegments, *,
                            background: np.ndarray | None = None, corrected: np.ndarray | None = None) -> SceneShare:
    """:func:`scene_share` of the correction ``image - corrected`` (default: of
    :func:`~hxrg_denoiser.classical.cleaning.clean_flux_image`), the noise's power measured by that cleaning on
    each segment, the same ``background`` kept in all. A network's correction is judged so too: where it
    removes what the segments show to accumulate, it is larger than the noise they show."""
    keep = background if background is not None else False
    if corrected is None:
        corrected = clean_flux_image(image, geometry, background=keep)
    parts = [part - clean_flux_image(part, geometry, background=keep) for part in segments.images]
    return scene_share(image - corrected, parts, segments, geometry)
