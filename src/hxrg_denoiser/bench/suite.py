"""Benchmark cases: the built-in suites ``bench-v1`` and ``bench-v2``, and cases built from a user's darks.

``bench-v1``: a NIRPS-like strip (32 channels x 128 columns, butterfly,
reference pixels on all four edges, 256 science rows + 8 reference rows),
100 reads; an echelle scene at 99th percentile 30 e- with each of the
``nirspec`` and ``h4rg-lab`` noise presets and three fixed seeds, plus
out-of-distribution cases (star field, flat fields at three levels, an
echelle scene with cosmic rays). It stays as it was, so that results remain comparable.

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

from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import ArrayRamp, Ramp
from hxrg_denoiser.simulate.injection import accumulate_scene
from hxrg_denoiser.simulate.nghxrg import NGHXRG_PRESETS, nghxrg_dark
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.simulate.scenes import Scene, echelle_scene, make_scene, scale_scene

__all__ = [
    "BenchCase", "CaseData", "BENCH_V1", "BENCH_V2", "BENCH_V2_FAMILIES", "BENCH_SEEDS", "SUITES",
    "check_training_seed", "build_case", "bench_geometry", "BENCH_GEOMETRY",
]

BENCH_ROWS = 264
BENCH_READS = 100


@dataclass(frozen=True)
class BenchCase:
    """One simulated test exposure.

    Attributes
    ----------
    name : str
    noise : str
        Noise preset (of the project's generator, or of NGHXRG for ``generator="nghxrg"``).
    seed : int
    scene : {"echelle", "echelle-straight", "stars", "flat", "sky"}
        ``echelle-straight``: orders without curvature or tilt, each lighting
        every channel over the same rows; ``sky``: the echelle on a uniform
        background of ``flat_level`` e-.
    family : {"echelle", "ood"}
        Echelle cases get spectral metrics (and, in bench-v1, noise-versus-reads curves).
    flat_level : float
    cosmic_ray_rate : float
        Hits per cm^2 per s.
    group : str or None
        The bench-v2 family; reports summarise over its seeds (mean and worst).
    noise_changes : tuple of (name, value)
        Changes to the noise preset (project generator).
    generator : {"project", "nghxrg"}
    calibration_darks : int
        Darks of the family (other seeds) on which a ``sirs`` correction is calibrated (0: none).
    target : float or None
        Target of the background-subtracted spectrum error relative to the oracle's.
    """

    name: str
    noise: str
    seed: int
    scene: str = "echelle"
    family: str = "echelle"
    flat_level: float = 30.0
    cosmic_ray_rate: float = 0.0
    group: str | None = None
    noise_changes: tuple = ()
    generator: str = "project"
    calibration_darks: int = 0
    target: float | None = None


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


BENCH_V1: list[BenchCase] = [
    *(BenchCase(f"echelle-{noise}-s{seed}", noise, seed) for noise in ("nirspec", "h4rg-lab") for seed in (9001, 9002, 9003)),
    BenchCase("stars-h4rg-lab", "h4rg-lab", 9101, scene="stars", family="ood"),
    *(BenchCase(f"flat{int(level)}-h4rg-lab", "h4rg-lab", 9102 + i, scene="flat", family="ood", flat_level=level)
      for i, level in enumerate((10.0, 100.0, 1000.0))),
    BenchCase("echelle-cosmic-rays-h4rg-lab", "h4rg-lab", 9105, family="ood", cosmic_ray_rate=5.0),
]

# name: (generator, noise preset, changes, scene, flat level, target of background-subtracted spectrum / oracle)
BENCH_V2_FAMILIES: dict[str, tuple] = {
    "nirspec": ("project", "nirspec", (), "echelle", 30.0, 1.05),
    "h4rg-lab": ("project", "h4rg-lab", (), "echelle", 30.0, 1.05),
    "ng-nirspec": ("nghxrg", "nirspec", (), "echelle", 30.0, 1.10),
    "ng-strong": ("nghxrg", "strong", (), "echelle", 30.0, None),
    "frame-ref0-bowl": ("project", "nirspec", (("picture_frame", 1.0), ("picture_frame_shape", "bowl"),
                                               ("picture_frame_ref_gain", 0.0)), "echelle", 30.0, 1.10),
    "frame-ref1-linear": ("project", "nirspec", (("picture_frame", 1.0), ("picture_frame_shape", "linear")),
                          "echelle", 30.0, 1.10),
    "frame-ref5-corner": ("project", "nirspec", (("picture_frame", 0.5), ("picture_frame_shape", "corner"),
                                                 ("picture_frame_ref_gain", 5.0)), "echelle", 30.0, 1.10),
    "frame-ref20": ("project", "nirspec", (("picture_frame_ref_gain", 20.0),), "echelle", 30.0, 1.10),
    "ref-coupling-0.7": ("project", "nirspec", (("ref_coupling", 0.7), ("ref_pink", 1.0)), "echelle", 30.0, 1.10),
    "ref-coupling-1.3": ("project", "nirspec", (("ref_coupling", 1.3), ("ref_pink", 0.5)), "echelle", 30.0, 1.10),
    "pink-per-read": ("project", "nirspec", (("pink_continuous", False),), "echelle", 30.0, 1.10),
    "acn-even-odd": ("project", "h4rg-lab", (("acn_form", "even-odd"),), "echelle", 30.0, None),
    "acn-row": ("project", "nirspec", (("acn", 2.0), ("acn_form", "row")), "echelle", 30.0, 1.10),
    "straight-orders": ("project", "nirspec", (), "echelle-straight", 30.0, 1.10),
    "sky": ("project", "nirspec", (), "sky", 5.0, 1.10),
    "wide-flat": ("project", "nirspec", (), "flat", 30.0, None),
}

BENCH_V2: list[BenchCase] = [
    BenchCase(f"{name}-s{seed}", noise, seed, scene=scene, family="ood" if scene == "flat" else "echelle",
              flat_level=level, group=name, noise_changes=changes, generator=generator, calibration_darks=1,
              target=target)
    for index, (name, (generator, noise, changes, scene, level, target)) in enumerate(BENCH_V2_FAMILIES.items())
    for seed in (9201 + 10 * index, 9202 + 10 * index, 9203 + 10 * index)
]

SUITES: dict[str, list[BenchCase]] = {
    "bench-v1": BENCH_V1,
    # A small, fast subset for smoke tests and quick looks.
    "bench-v1-quick": [BENCH_V1[0], BENCH_V1[3], BENCH_V1[6]],
    "bench-v2": BENCH_V2,
    "bench-v2-quick": [c for c in BENCH_V2 if c.seed % 10 == 1 and c.group in ("nirspec", "frame-ref20", "sky")],
}

CALIBRATION_SEED_OFFSET = 500  # calibration darks of a family: seeds 9701 + 10 i, 9702 + 10 i, ...
BENCH_SEEDS = frozenset(
    [case.seed for case in BENCH_V1] + [case.seed for case in BENCH_V2]
    + [case.seed + CALIBRATION_SEED_OFFSET + k for case in BENCH_V2 for k in range(case.calibration_darks)]
)


def check_training_seed(seed: int) -> None:
    """Refuse a training seed that belongs to the benchmark."""
    if seed in BENCH_SEEDS:
        raise UsageError(f"seed {seed} is reserved for the bench-v1 and bench-v2 test cubes; training must use another")


BENCH_GEOMETRY = "nirps-h4rg"


def bench_geometry(n_rows: int = BENCH_ROWS, name: str = BENCH_GEOMETRY) -> ReadoutGeometry:
    """The bench strip: ``n_rows`` rows of the preset ``name`` (by default a NIRPS H4RG)."""
    return preset(name, n_rows=n_rows)


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
    from hxrg_denoiser.classical.sirs import fit_sirs

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
        The detector's readout (rows are replaced by ``n_rows``); default the NIRPS H4RG
        (:data:`BENCH_GEOMETRY`). The same case on another geometry keeps its noise, scene kind and seed.
    """
    geometry = geometry.with_rows(n_rows) if geometry is not None else bench_geometry(n_rows)
    scene = _scene(case, geometry)
    cube, oracle = _dark_and_correlated(case, geometry, n_reads, case.seed, scene.image)
    calibration = None
    if case.calibration_darks:
        key = BenchCase(f"{case.group}-calibration", case.noise, case.seed - case.seed % 10 + 1, group=case.group,
                        noise_changes=case.noise_changes, generator=case.generator,
                        calibration_darks=case.calibration_darks)
        calibration = _family_calibration(key, geometry, n_reads)
    # Cosmic-ray charge is not part of the scene, and the oracle keeps it too: it tests jump handling, not noise.
    return CaseData(case.name, case.family, geometry, ArrayRamp(cube, case.name), ArrayRamp(oracle, f"{case.name}-oracle"),
                    scene, group=case.group, target=case.target, calibration=calibration)
