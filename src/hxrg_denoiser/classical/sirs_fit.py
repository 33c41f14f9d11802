"""Fitting a SIRS-class calibration on dark ramps (the model is :mod:`hxrg_denoiser.classical.sirs`'s).

:func:`fit_sirs` fits steps 1-3 of that model (levels, side-column weights frequency by frequency, the read
means where the levels mislead) and then tries step 4: a frame template learnt on the same darks
(:mod:`hxrg_denoiser.classical.frame_template`), steps 1-3 fitted again on the darks with it subtracted, and
kept only where the darks' science pixels say it helps (:data:`~hxrg_denoiser.classical.sirs.FRAME_EVIDENCE`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.classical.frame_template import FrameTemplate, learn_frame_template
from hxrg_denoiser.classical.sirs import (
    DC_EVIDENCE,
    FRAME_EVIDENCE,
    SEED_LEVELS,
    CalibrationRecord,
    ReferenceSeries,
    SirsCalibration,
    _levels,
    _mirrored_spectrum,
    _read_mean_design,
    _side_series,
    reference_series,
    sirs_correction,
)
from hxrg_denoiser.errors import GeometryError, RampInputError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import Ramp, open_ramp

__all__ = ["fit_sirs", "fit_sirs_files"]

RIDGE = 1e-3  # relative ridge of the frequency-domain least squares


def _pooled_solve(normal: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve 2 x 2 complex normal equations per (channel, frequency), pooling neighbouring frequencies.

    ``normal``: (bins, 2, 2); ``rhs``: (channels, bins, 2). Bin ``j >= 1`` pools
    bins ``max(1, j - w) .. j + w`` with ``w = j // 8`` (at least 1): few
    frequencies at the bottom of the spectrum, where the weights change
    fastest. Bin 0 (the mean of the read) is solved on its own.
    """
    bins = normal.shape[0]
    cumulative_n = np.concatenate([np.zeros((1, 2, 2), complex), np.cumsum(normal, axis=0)])
    cumulative_r = np.concatenate([np.zeros((rhs.shape[0], 1, 2), complex), np.cumsum(rhs, axis=1)], axis=1)
    weights = np.zeros((rhs.shape[0], bins, 2), dtype=complex)
    for j in range(bins):
        w = max(1, j // 8)
        lo, hi = (0, 1) if j == 0 else (max(1, j - w), min(bins, j + w + 1))
        a = cumulative_n[hi] - cumulative_n[lo]
        a = a + RIDGE * np.trace(a).real / 2 * np.eye(2)
        weights[:, j] = np.linalg.solve(a[None], (cumulative_r[:, hi] - cumulative_r[:, lo])[..., None])[..., 0]
    return weights



def _fit_read_means(collected: list[ReferenceSeries], science: list[np.ndarray], base: list[np.ndarray],
                    levels: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Least-squares read means per channel (step 3) and how many times less variance they leave than ``base``.

    ``science``, ``base``, ``levels``: per dark, ``(n_reads, n_rows, n_channels)``; read 0 is left out.
    """
    design = np.concatenate([_read_mean_design(s, lv)[1:] for s, lv in zip(collected, levels)])
    target = np.concatenate([m.mean(axis=1)[1:] for m in science])
    base_residual = float(np.sum((target - np.concatenate([b.mean(axis=1)[1:] for b in base])) ** 2))
    coefficients = np.empty((design.shape[1], 3))
    residual = 0.0
    for c in range(design.shape[1]):
        a = design[:, c]
        normal = a.T @ a
        normal = normal + RIDGE * np.trace(normal) / 3 * np.eye(3)
        coefficients[c] = np.linalg.solve(normal, a.T @ target[:, c])
        residual += float(np.sum((target[:, c] - a @ coefficients[c]) ** 2))
    if residual == 0:  # noiseless darks: nothing says the levels mislead unless they leave something
        return coefficients, float("inf") if base_residual > 0 else 1.0
    return coefficients, base_residual / residual



def _fit_sides(collected: list[ReferenceSeries], targets: list[np.ndarray], levels: list[np.ndarray],
               geometry: ReadoutGeometry, relative: bool) -> np.ndarray:
    """Side-column weights per channel and frequency, shape ``(n_channels, n_rows + 1, 2)``."""
    bins = geometry.n_rows + 1
    normal = np.zeros((bins, 2, 2), dtype=complex)
    rhs = np.zeros((geometry.n_channels, bins, 2), dtype=complex)
    for s, target, lv in zip(collected, targets, levels):
        left, right = _side_series(s, lv, relative)
        sides = np.stack([_mirrored_spectrum(left[1:]), _mirrored_spectrum(right[1:])], axis=-1)  # k, bins, 2
        target_f = _mirrored_spectrum(target[1:].transpose(0, 2, 1))  # k, channels, bins
        normal += np.einsum("kfi,kfj->fij", sides.conj(), sides)
        rhs += np.einsum("kfi,kcf->cfi", sides.conj(), target_f)
    return _pooled_solve(normal, rhs)


def _fit_steps(collected: list[ReferenceSeries], geometry: ReadoutGeometry
               ) -> tuple[SirsCalibration, list[np.ndarray], float]:
    """Steps 1-3 on the darks' series: the calibration, its correction of each dark, and the read means' evidence."""
    science = [s.science for s in collected if s.science is not None]
    coefficients = np.tile(SEED_LEVELS, (geometry.n_channels, 1))
    levels = [_levels(s, geometry, coefficients) for s in collected]
    targets = [m - lv for m, lv in zip(science, levels)]
    weights = _fit_sides(collected, targets, levels, geometry, relative=True)
    fitted = SirsCalibration(geometry, coefficients, weights[..., 0], weights[..., 1])
    corrections = [sirs_correction(s, fitted) for s in collected]
    read_means, evidence = _fit_read_means(collected, science, corrections, levels)
    if evidence >= DC_EVIDENCE:  # the levels mislead: the side columns as they are, and the fitted read means
        weights = _fit_sides(collected, targets, levels, geometry, relative=False)
        fitted = SirsCalibration(geometry, coefficients, weights[..., 0], weights[..., 1], read_means)
        corrections = [sirs_correction(s, fitted) for s in collected]
    return fitted, corrections, evidence


def _left(collected: list[ReferenceSeries], corrections: list[np.ndarray]) -> float:
    """The channel row-mean variance of the darks' science pixels that corrections leave (read 0 left out)."""
    return sum(float(np.sum((s.science[1:] - c[1:]) ** 2)) for s, c in zip(collected, corrections)
               if s.science is not None)


def _reads(series: ReferenceSeries, keep: np.ndarray) -> ReferenceSeries:
    """The series of read 0 and the reads ``keep`` (a mask over the reads)."""
    index = np.concatenate([[0], np.flatnonzero(keep)])
    return ReferenceSeries(series.left[index], series.right[index], series.bottom[index], series.top[index],
                           series.parity[index], None if series.science is None else series.science[index])


def _with_frame(plain: list[ReferenceSeries], framed: list[ReferenceSeries],
                corrections: list[np.ndarray]) -> list[np.ndarray]:
    """Corrections of the darks' own science pixels: the template's part (what it took from them) and then
    the corrections of the framed series."""
    return [c + (p.science - f.science) for p, f, c in zip(plain, framed, corrections)]  # type: ignore[operator]


def _held_out(plain: list[ReferenceSeries], framed: list[ReferenceSeries], geometry: ReadoutGeometry) -> float:
    """Steps 1-3 fitted on the even reads, with and without the template learnt on them (``framed``), tried on
    the odd reads: the variance left without it over that left with it."""
    even = [np.arange(s.left.shape[0]) % 2 == 0 for s in plain]
    odd = [~e & (np.arange(e.size) > 0) for e in even]
    if not all(o.any() for o in odd):
        return 0.0
    fits_ = [_fit_steps([_reads(s, e) for s, e in zip(series, even)], geometry)[0] for series in (plain, framed)]
    test_plain = [_reads(s, o) for s, o in zip(plain, odd)]
    test_framed = [_reads(s, o) for s, o in zip(framed, odd)]
    without = _left(test_plain, [sirs_correction(s, fits_[0]) for s in test_plain])
    within = _left(test_plain, _with_frame(test_plain, test_framed,
                                           [sirs_correction(s, fits_[1]) for s in test_framed]))
    return without / within if within > 0 else float("inf")


def _electrons(ramp: Ramp, gain: float) -> Callable[[int, int], np.ndarray]:
    return lambda start, stop: ramp.read_rows(start, stop).astype(np.float64) * gain


def _framed_series(darks: list[Ramp], readers: list, geometry: ReadoutGeometry, gain: float,
                   template: FrameTemplate) -> list[ReferenceSeries]:
    return [reference_series(ramp, geometry, gain=gain, science=True,
                             frame=(template, template.amplitudes(rows, geometry, ramp.n_reads)))
            for ramp, rows in zip(darks, readers)]


def fit_sirs(
    darks: Iterable[Ramp], geometry: ReadoutGeometry, *, gain: float = 1.0, progress: bool = False,
    frame: bool = False,
) -> SirsCalibration:
    """Fit a SIRS-class reference correction on dark ramps of ``geometry`` (see
    :mod:`hxrg_denoiser.classical.sirs`).

    The levels are the seed line (not fitted); the side-column weights are fitted on what the levels leave;
    ``frame``: also try a frame template (step 4; darks of 5 reads or more), kept where the darks' held-out reads
    say it helps. Not by default, so that a calibration is what it was before the template existed (measured in
    docs/calibrate.md).
    """
    collected, names = [], []
    darks = list(darks)
    for ramp in darks:  # every shape is checked before any work starts
        if (ramp.n_rows, ramp.n_cols) != geometry.shape:
            raise GeometryError(f"{ramp.path}: reads are {ramp.n_rows} x {ramp.n_cols}, geometry {geometry.name!r} "
                                f"is {geometry.n_rows} x {geometry.n_cols}; every dark must have the same shape")
    for ramp in tqdm(darks, desc="reading darks", unit="dark", disable=not progress, leave=False):
        collected.append(reference_series(ramp, geometry, gain=gain, science=True))
        source = Path(ramp.path)
        names.append(str(source.resolve()) if source.exists() else str(ramp.path))  # in-memory ramps: their name
    if not collected:
        raise RampInputError("no darks to calibrate on")
    fitted, corrections, evidence = _fit_steps(collected, geometry)
    left = _left(collected, corrections)
    frame_evidence = dominance = 0.0
    if frame and geometry.reference_mask.any() and all(r.n_reads >= 5 for r in darks):
        readers = [_electrons(ramp, gain) for ramp in darks]
        learnt = learn_frame_template(readers, geometry, [r.n_reads for r in darks])
        dominance = learnt.dominance
        frame_evidence = _held_out(collected, _framed_series(darks, readers, geometry, gain, learnt.even), geometry)
        if frame_evidence >= FRAME_EVIDENCE:
            framed = _framed_series(darks, readers, geometry, gain, learnt.template)
            fitted, framed_corrections, evidence = _fit_steps(framed, geometry)
            fitted = dataclasses.replace(fitted, frame=learnt.template)
            corrections = _with_frame(collected, framed, framed_corrections)
            left = _left(collected, corrections)
    before = sum(float(np.sum(s.science[1:] ** 2)) for s in collected if s.science is not None)
    record = CalibrationRecord(darks=tuple(names), reads=tuple(int(s.left.shape[0]) for s in collected),
                               residual_fraction=left / before if before > 0 else None, gain=gain,
                               mean_model="fitted" if fitted.read_means is not None else "levels",
                               mean_evidence=evidence, frame_evidence=frame_evidence, frame_dominance=dominance)
    return dataclasses.replace(fitted, record=record)


def fit_sirs_files(
    paths: list[str], geometry_of: Callable[[tuple[int, int], str], ReadoutGeometry], *, gain: float = 1.0,
    progress: bool = False, frame: bool = False,
) -> SirsCalibration:
    """:func:`fit_sirs` on dark ramps given as files or folders; ``geometry_of(shape, path)`` gives the geometry
    of the first one. Every ramp is closed afterwards."""
    ramps: list[Ramp] = []
    try:
        for path in paths:
            ramps.append(open_ramp(path))
        geometry = geometry_of((ramps[0].n_rows, ramps[0].n_cols), paths[0])
        return fit_sirs(ramps, geometry, gain=gain, progress=progress, frame=frame)
    finally:
        for ramp in ramps:
            ramp.close()
