"""Benchmark cases: the built-in suites ``bench-v1`` and ``bench-v2``, and cases built from a user's darks.

``bench-v1``: a NIRPS-like strip (32 channels x 128 columns, butterfly,
reference pixels on all four edges, 256 science rows + 8 reference rows),
100 reads; an echelle scene at 99th percentile 30 e- with each of the
``nirspec`` and ``h4rg-lab`` noise presets and three fixed seeds, plus
out-of-distribution cases (star field, flat fields at three levels, an
echelle scene with cosmic rays). It stays as it was, so that results remain comparable.

``bench-v3``: scenes and detector effects (:data:`BENCH_V3_FAMILIES`) on the three preset geometries, each
case with its own rows and reads; measured also by aperture photometry and by whether the sky's channel means
stay where they were, against more classical rivals (:data:`RIVALS`).

``bench-v2``: the same strip and reads, with noise families that the shipped
model's training never sees (see :data:`BENCH_V2_FAMILIES`): the project's
presets with new seeds; a second generator written after the published
NGHXRG recipe (:mod:`hxrg_denoiser.simulate.nghxrg`); picture frames of other
shapes and strengths, seen 0, 1, 5 and 20 times by the reference pixels;
reference pixels with their own coupling and 1/f noise; 1/f noise drawn anew
for each read; other ACN forms; and scenes whose orders light every channel
over the same rows, a wide flat, an echelle on a sky background. Three seeds
each. Every family also gets a ``sirs`` reference correction calibrated on
one dark of its own (another seed, 100 reads).

The seeds in :data:`BENCH_SEEDS` are reserved: no training recipe may use them
(:func:`check_training_seed`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from hxrg_denoiser.classical.ipc import IpcKernel
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import ArrayRamp, Ramp
from hxrg_denoiser.simulate.held_out import (
    BENCH_GEOMETRY,
    BENCH_READS,
    BENCH_ROWS,
    BENCH_SEEDS,
    BENCH_V1,
    BENCH_V2,
    BENCH_V2_FAMILIES,
    BENCH_V3,
    BENCH_V3_FAMILIES,
    CALIBRATION_SEED_OFFSET,
    BenchCase,
    bench_geometry,
    check_training_seed,
)
from hxrg_denoiser.simulate.injection import accumulate_scene
from hxrg_denoiser.simulate.nghxrg import NGHXRG_PRESETS, nghxrg_dark
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.simulate.scenes import Scene, echelle_scene, make_scene, scale_scene

__all__ = [
    "BenchCase", "CaseData", "BENCH_V1", "BENCH_V2", "BENCH_V2_FAMILIES", "BENCH_V3", "BENCH_V3_FAMILIES",
    "BENCH_SEEDS", "SUITES", "EXTRA_CLASSICAL_FITS", "RIVALS", "suite_family",
    "check_training_seed", "build_case", "bench_geometry", "BENCH_GEOMETRY",
]


@dataclass
class CaseData:
    """A case made concrete: the ramp, its oracle (if known), the truth and the geometry."""

    name: str
    family: str
    geometry: ReadoutGeometry
    ramp: Ramp
    oracle: Ramp | None
    scene: Scene
    group: str | None = None
    target: float | None = None
    calibration: object | None = None
    info: dict = field(default_factory=dict)
    dark: str | None = None  # subtracted by every method before its fit (``bench --dark``)
    ipc: IpcKernel | None = None  # the detector's IPC (built-in cases that simulate it), in every method's errors


SUITES: dict[str, list[BenchCase]] = {
    "bench-v1": BENCH_V1,
    # A small, fast subset for smoke tests and quick looks.
    "bench-v1-quick": [BENCH_V1[0], BENCH_V1[3], BENCH_V1[6]],
    "bench-v2": BENCH_V2,
    "bench-v2-quick": [c for c in BENCH_V2 if c.seed % 10 == 1 and c.group in ("nirspec", "frame-ref20", "sky")],
    "bench-v3": BENCH_V3,
    "bench-v3-quick": [c for c in BENCH_V3 if c.seed % 10 == 1 and c.group in ("imaging-jwst", "reset-stars")],
}

# What ``hxrg fit`` does by default: the seed-corrected fit, checked against the plain one on the exposure's dark
# pixels (measured beside the unchecked fits in bench-v2 and bench-v3).
CHECKED_FIT = {"utr_ref_seed_checked": FitOptions(method="utr", refcorr="seed", reference_check=True)}
# Suites whose cases are judged against more classical fits than bench-v2's: plain UTR (a reference correction
# can hurt), the seed-corrected fit that leaves out the reads of a start transient (what a careful user
# would run on a ramp with a reset anomaly; ``hxrg denoise`` does it by default), and the checked fit.
EXTRA_CLASSICAL_FITS: dict[str, dict[str, FitOptions]] = {
    "bench-v2": CHECKED_FIT,
    "bench-v3": {"utr_ref_seed_auto": FitOptions(method="utr", refcorr="seed", first_read="auto"), **CHECKED_FIT},
}
RIVALS: dict[str, tuple[str, ...]] = {
    "bench-v3": ("utr", "utr_ref_seed", "utr_ref_smoothed", "utr_ref_seed_auto", "utr_ref_seed_checked"),
}


def suite_family(suite: str) -> str:
    """The suite ``suite`` belongs to (``bench-v3-quick`` -> ``bench-v3``)."""
    return suite.removesuffix("-quick")



def _scene(case: BenchCase, geometry: ReadoutGeometry) -> Scene:
    if case.scene == "echelle-straight":
        return scale_scene(echelle_scene(geometry, seed=case.seed, curvature=0.0, tilt=0.0), geometry)
    if case.scene == "sky":
        echelle = make_scene("echelle", geometry, seed=case.seed)
        image = np.where(geometry.reference_mask, 0.0, echelle.image + np.float32(case.flat_level))
        return Scene(image.astype(np.float32), "sky", echelle.orders, echelle.scale)
    return make_scene(case.scene, geometry, seed=case.seed, flat_level=case.flat_level)


def _dark_and_correlated(case: BenchCase, geometry: ReadoutGeometry, n_reads: int, seed: int,
                         scene: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The ramp (with the scene accumulated) and the oracle ramp of ``case`` under ``seed``."""
    if case.generator == "nghxrg":
        cube, correlated = nghxrg_dark(geometry, n_reads, NGHXRG_PRESETS[case.noise], seed)
        if scene is not None:
            cube += accumulate_scene(np.where(geometry.reference_mask, 0.0, scene), n_reads, seed, 0)
        correlated -= cube  # the oracle is the ramp minus its correlated part
        np.negative(correlated, out=correlated)
        return cube, correlated
    noise = noise_preset(case.noise).replace(cosmic_ray_rate=case.cosmic_ray_rate, **dict(case.noise_changes))
    return simulate_cube(geometry, n_reads, noise, scene=scene, seed=seed, oracle=True)


@functools.lru_cache(maxsize=2)
def _family_calibration(case: BenchCase, geometry: ReadoutGeometry, n_reads: int):
    """The ``sirs`` calibration of a family, on its own darks (seeds reserved for this)."""
    from hxrg_denoiser.classical.sirs_fit import fit_sirs

    darks = [ArrayRamp(_dark_and_correlated(case, geometry, n_reads, case.seed - case.seed % 10 + 1
                                            + CALIBRATION_SEED_OFFSET + k, None)[0], f"{case.group}-dark{k}")
             for k in range(case.calibration_darks)]
    return fit_sirs(darks, geometry)


def build_case(case: BenchCase, *, n_rows: int = BENCH_ROWS, n_reads: int = BENCH_READS,
               geometry: ReadoutGeometry | None = None) -> CaseData:
    """Simulate ``case`` in memory (cube and oracle, float32), with its family's calibration if it has one.

    Parameters
    ----------
    case : BenchCase
    n_rows, n_reads : int
        Rows of the strip and reads of the ramp.
    geometry : ReadoutGeometry, optional
        The detector's readout (rows are replaced by ``n_rows``); default the case's own preset
        (bench-v3), else the NIRPS H4RG (:data:`BENCH_GEOMETRY`). The same case on another geometry keeps
        its noise, scene kind and seed.
    """
    if geometry is None and case.geometry is not None:
        geometry = preset(case.geometry)
    geometry = geometry.with_rows(n_rows) if geometry is not None else bench_geometry(n_rows)
    scene = _scene(case, geometry)
    cube, oracle = _dark_and_correlated(case, geometry, n_reads, case.seed, scene.image)
    calibration = None
    if case.calibration_darks:
        key = BenchCase(f"{case.group}-calibration", case.noise, case.seed - case.seed % 10 + 1, group=case.group,
                        noise_changes=case.noise_changes, generator=case.generator,
                        calibration_darks=case.calibration_darks)
        calibration = _family_calibration(key, geometry, n_reads)
    # the detector's IPC is known to its users as its dark is (JWST's IPC reference files): given to every method
    coupling = dict(case.noise_changes).get("ipc", 0.0) if case.generator == "project" else 0.0
    # Cosmic-ray charge is not part of the scene, and the oracle keeps it too: it tests jump handling, not noise.
    return CaseData(case.name, case.family, geometry, ArrayRamp(cube, case.name), ArrayRamp(oracle, f"{case.name}-oracle"),
                    scene, group=case.group, target=case.target, calibration=calibration,
                    ipc=IpcKernel.coupling(coupling) if coupling > 0 else None)
