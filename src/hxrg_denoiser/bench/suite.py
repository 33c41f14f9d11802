"""Benchmark cases: the built-in suite ``bench-v1`` and cases built from a user's darks.

``bench-v1``: a NIRPS-like strip (32 channels x 128 columns, butterfly,
reference pixels on all four edges, 256 science rows + 8 reference rows),
100 reads; an echelle scene at 99th percentile 30 e- with each of the
``nirspec`` and ``h4rg-lab`` noise presets and three fixed seeds, plus
out-of-distribution cases (star field, flat fields at three levels, an
echelle scene with cosmic rays). The seeds in :data:`BENCH_SEEDS` are reserved:
no training recipe may use them (:func:`check_training_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import ArrayRamp, Ramp
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.simulate.scenes import Scene, make_scene

__all__ = ["BenchCase", "CaseData", "BENCH_V1", "BENCH_SEEDS", "SUITES", "check_training_seed", "build_case"]

BENCH_ROWS = 264
BENCH_READS = 100


@dataclass(frozen=True)
class BenchCase:
    """One simulated test exposure.

    Attributes
    ----------
    name : str
    noise : str
        Noise preset.
    seed : int
    scene : {"echelle", "stars", "flat"}
    family : {"echelle", "ood"}
        Echelle cases get spectral metrics and noise-versus-reads curves.
    flat_level : float
    cosmic_ray_rate : float
        Hits per cm^2 per s.
    """

    name: str
    noise: str
    seed: int
    scene: str = "echelle"
    family: str = "echelle"
    flat_level: float = 30.0
    cosmic_ray_rate: float = 0.0


@dataclass
class CaseData:
    """A case made concrete: the ramp, its oracle (if known), the truth and the geometry."""

    name: str
    family: str
    geometry: ReadoutGeometry
    ramp: Ramp
    oracle: Ramp | None
    scene: Scene


BENCH_V1: list[BenchCase] = [
    *(BenchCase(f"echelle-{noise}-s{seed}", noise, seed) for noise in ("nirspec", "h4rg-lab") for seed in (9001, 9002, 9003)),
    BenchCase("stars-h4rg-lab", "h4rg-lab", 9101, scene="stars", family="ood"),
    *(BenchCase(f"flat{int(level)}-h4rg-lab", "h4rg-lab", 9102 + i, scene="flat", family="ood", flat_level=level)
      for i, level in enumerate((10.0, 100.0, 1000.0))),
    BenchCase("echelle-cosmic-rays-h4rg-lab", "h4rg-lab", 9105, family="ood", cosmic_ray_rate=5.0),
]

SUITES: dict[str, list[BenchCase]] = {
    "bench-v1": BENCH_V1,
    # A small, fast subset for smoke tests and quick looks.
    "bench-v1-quick": [BENCH_V1[0], BENCH_V1[3], BENCH_V1[6]],
}

BENCH_SEEDS = frozenset(case.seed for case in BENCH_V1)


def check_training_seed(seed: int) -> None:
    """Refuse a training seed that belongs to the benchmark."""
    if seed in BENCH_SEEDS:
        raise UsageError(f"seed {seed} is reserved for the bench-v1 test cubes; training must use another")


def bench_geometry(n_rows: int = BENCH_ROWS) -> ReadoutGeometry:
    """The bench-v1 strip of a NIRPS H4RG."""
    return preset("nirps-h4rg", n_rows=n_rows)


def build_case(case: BenchCase, *, n_rows: int = BENCH_ROWS, n_reads: int = BENCH_READS) -> CaseData:
    """Simulate ``case`` in memory (cube and oracle, float32)."""
    geometry = bench_geometry(n_rows)
    scene = make_scene(case.scene, geometry, seed=case.seed, flat_level=case.flat_level)
    noise = noise_preset(case.noise).replace(cosmic_ray_rate=case.cosmic_ray_rate)
    cube, oracle = simulate_cube(geometry, n_reads, noise, scene=scene.image, seed=case.seed, oracle=True)
    # Cosmic-ray charge is not part of the scene, and the oracle keeps it too: it tests jump handling, not noise.
    return CaseData(case.name, case.family, geometry, ArrayRamp(cube, case.name), ArrayRamp(oracle, f"{case.name}-oracle"), scene)
