"""A superdark: the clipped mean, read by read, of several dark ramps of one detector (``hxrg superdark``).

Each dark's pixels sit at their own reset level, so each dark is first taken relative to its own
per-pixel mean over the reads; at every read and pixel, values more than :data:`CLIP_SIGMAS` robust
sigmas from the median of the darks (a cosmic ray, which stays in every later read; an RTS step) are
left out of the mean; the mean reset level is added back. The result is a dark ramp for ``--dark``: its
``NCOMBINE`` keyword says how many darks it averages, hence how much read noise it keeps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.errors import RampInputError, UsageError
from hxrg_denoiser.io.cube import BandCubeWriter
from hxrg_denoiser.io.ramps import Ramp, open_ramp
from hxrg_denoiser.stats import MAD_TO_SIGMA, robust_sigma

__all__ = ["clipped_dark_mean", "write_superdark", "CLIP_SIGMAS", "MIN_DARKS_CLIPPED"]

CLIP_SIGMAS = 4.0
MIN_DARKS_CLIPPED = 3  # fewer darks: a plain mean (a median of two says nothing)


def clipped_dark_mean(stack: np.ndarray, sigmas: float = CLIP_SIGMAS) -> tuple[np.ndarray, np.ndarray]:
    """The clipped mean of dark ramps, read by read and pixel by pixel.

    Parameters
    ----------
    stack : ndarray, shape (n_darks, n_reads, n_rows, n_cols)
        The same rows of every dark (any units).
    sigmas : float
        Values further than this from the median of the darks, in units of the robust sigma of the
        darks' departures from their median in that read (or the pixel's own, where larger), are left out.

    Returns
    -------
    mean : ndarray, shape (n_reads, n_rows, n_cols), float32
    kept : ndarray, shape (n_reads, n_rows, n_cols), int16
        How many darks each value averages.
    """
    n_darks = stack.shape[0]
    levels = stack.mean(axis=1, dtype=np.float64, keepdims=True).astype(np.float32)
    relative = stack - levels
    if n_darks < MIN_DARKS_CLIPPED:
        kept = np.full(stack.shape[1:], n_darks, dtype=np.int16)
        return (relative.mean(axis=0) + levels.mean(axis=0)).astype(np.float32), kept
    centre = np.median(relative, axis=0)
    departures = relative - centre
    # the read's scale over every pixel, or the pixel's own spread where larger (a hot pixel's shot noise)
    scale = np.array([max(robust_sigma(d), 1e-12) for d in np.moveaxis(departures, 1, 0)], dtype=np.float32)
    own = MAD_TO_SIGMA * np.median(np.abs(departures), axis=0)
    limit = sigmas * np.maximum(scale[:, None, None], own) * np.float32(np.sqrt(n_darks / (n_darks - 1.0)))
    keep = np.abs(departures) <= limit[None]
    kept = keep.sum(axis=0)
    total = np.where(keep, relative, 0.0).sum(axis=0)
    mean = np.where(kept > 0, total / np.maximum(kept, 1), centre)
    return (mean + levels.mean(axis=0)).astype(np.float32), kept.astype(np.int16)


def _check_alike(ramps: Sequence[Ramp]) -> None:
    first = ramps[0]
    for ramp in ramps[1:]:
        if ramp.shape != first.shape:
            raise RampInputError(f"{ramp.path}: {ramp.n_reads} reads of {ramp.n_rows} x {ramp.n_cols}, "
                                 f"{first.path} has {first.n_reads} of {first.n_rows} x {first.n_cols}; "
                                 "a superdark combines darks of one readout")


def write_superdark(paths: Sequence[str | os.PathLike], output: str | os.PathLike, *, overwrite: bool = False,
                    strip_rows: int = 32, progress: bool = False) -> int:
    """Combine the dark ramps at ``paths`` into a superdark cube at ``output``; returns the number of
    values left out by the clipping. Memory: every dark's reads of ``strip_rows`` rows at a time."""
    if len(paths) < 2:
        raise UsageError(f"hxrg superdark: {len(paths)} dark given, a superdark combines at least 2")
    ramps: list[Ramp] = []
    try:
        for path in paths:
            ramps.append(open_ramp(path))
        _check_alike(ramps)
        first = ramps[0]
        cards = {
            "NCOMBINE": (len(ramps), "dark ramps combined"),
            "DARKTYPE": ("superdark", "clipped mean per read of dark ramps"),
            "CLIPSIG": (CLIP_SIGMAS, "[sigma] clipping of each read's values"),
        }
        for key in ("BUNIT", "GAIN", "NFRAMES", "GROUPGAP", "TGROUP", "TFRAME", "GEOMETRY"):
            if key in first.header:
                cards[key] = (first.header[key], first.header.comments[key])
        clipped = 0
        bands = range(0, first.n_rows, strip_rows)
        with BandCubeWriter(output, first.shape, cards, overwrite=overwrite, inputs=paths) as writer:
            for start in tqdm(bands, desc="superdark", unit="strip", disable=not progress, leave=False):
                stop = min(start + strip_rows, first.n_rows)
                mean, kept = clipped_dark_mean(np.stack([ramp.read_rows(start, stop) for ramp in ramps]))
                clipped += int((len(ramps) - kept.astype(np.int64)).sum())
                writer.write(start, mean)
        return clipped
    finally:
        for ramp in ramps:
            ramp.close()
