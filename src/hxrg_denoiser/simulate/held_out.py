"""Exposures held out for benchmarking: the built-in suites' definitions, their geometry and reserved seeds.

The cases of ``bench-v1``, ``bench-v2`` and ``bench-v3`` are data (noise, scene, seed) that
:mod:`hxrg_denoiser.bench.suite` simulates; they live here, below both the
benchmark and the training code, so that training can refuse the seeds in
:data:`BENCH_SEEDS` (:func:`check_training_seed`) and use the same geometry
without importing the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry, preset

__all__ = [
    "BenchCase", "BENCH_V1", "BENCH_V2", "BENCH_V2_FAMILIES", "BENCH_V3", "BENCH_V3_FAMILIES", "BENCH_SEEDS", "BENCH_ROWS", "BENCH_READS",
    "BENCH_GEOMETRY", "CALIBRATION_SEED_OFFSET", "check_training_seed", "bench_geometry",
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
    geometry : str or None
        The preset the case is made on (None: the bench strip's, or the command's ``--geometry``).
    n_rows, n_reads : int or None
        Rows of the strip and reads of the ramp (None: the suite's defaults, 264 and 100).
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
    geometry: str | None = None
    n_rows: int | None = None
    n_reads: int | None = None



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


# bench-v3: scenes and detector effects the shipped model was not tuned on, on every geometry.
# name: (generator, noise preset, changes, scene, geometry, reads). Scene kinds are those of
# :func:`~hxrg_denoiser.simulate.scenes.make_scene`; the detector effects' forms and levels lie outside what
# training draws (reset transients of 45 e- decaying in 0.8 reads, 0.4 % hot pixels, 2 % IPC, 5 % non-linearity
# at 1e5 e-, telegraph pixels, a bowl-shaped frame that the reference pixels see 20x).
BENCH_V3_FAMILIES: dict[str, tuple] = {
    "stars-nirps": ("project", "nirspec", (), "stars-moffat", "nirps-h4rg", 60),
    "imaging-jwst": ("project", "nirspec", (), "imaging", "jwst-h2rg", 30),
    "crowded-h2rg32": ("project", "h4rg-lab", (), "imaging-crowded", "h2rg-32", 30),
    "nebula-nirps": ("project", "h4rg-lab", (), "nebula", "nirps-h4rg", 60),
    "galaxies-nghxrg": ("nghxrg", "nirspec", (), "galaxies", "nirps-h4rg", 60),
    "long-slit-jwst": ("project", "nirspec", (("pink_alpha", 1.2),), "long-slit", "jwst-h2rg", 30),
    "echelle-gradient": ("project", "h4rg-lab", (), "echelle-gradient", "nirps-h4rg", 60),
    "reset-stars": ("project", "nirspec", (("reset_anomaly", 45.0), ("reset_tau", 0.8)), "stars-moffat",
                    "nirps-h4rg", 60),
    "hot-dark-echelle": ("project", "nirspec", (("hot_pixel_fraction", 0.004), ("hot_pixel_current", 2.0),
                                                ("dark_current", 0.05)), "echelle", "nirps-h4rg", 60),
    "ipc-rts-nonlinear": ("project", "nirspec", (("ipc", 0.02), ("rts_fraction", 0.002), ("rts_amplitude", 30.0),
                                                 ("nonlinearity", 0.05)), "imaging", "jwst-h2rg", 30),
    "cosmic-imaging": ("project", "h4rg-lab", (), "imaging", "nirps-h4rg", 60),
    "frame-bowl-stars": ("project", "nirspec", (("picture_frame", 1.0), ("picture_frame_shape", "bowl"),
                                                ("picture_frame_ref_gain", 20.0)), "stars-moffat", "nirps-h4rg", 60),
}

BENCH_V3: list[BenchCase] = [
    BenchCase(f"{name}-s{seed}", noise, seed, scene=scene, family="imaging", group=name, noise_changes=changes,
              generator=generator, geometry=geometry, n_rows=BENCH_ROWS if geometry == "nirps-h4rg" else 256,
              n_reads=reads, cosmic_ray_rate=5.0 if name == "cosmic-imaging" else 0.0)
    for index, (name, (generator, noise, changes, scene, geometry, reads)) in enumerate(BENCH_V3_FAMILIES.items())
    for seed in (9401 + 10 * index, 9402 + 10 * index)
]

CALIBRATION_SEED_OFFSET = 500  # calibration darks of a family: seeds 9701 + 10 i, 9702 + 10 i, ...
BENCH_SEEDS = frozenset(
    [case.seed for case in BENCH_V1] + [case.seed for case in BENCH_V2] + [case.seed for case in BENCH_V3]
    + [case.seed + CALIBRATION_SEED_OFFSET + k for case in BENCH_V2 for k in range(case.calibration_darks)]
)


def check_training_seed(seed: int) -> None:
    """Refuse a training seed that belongs to the benchmark."""
    if seed in BENCH_SEEDS:
        raise UsageError(f"seed {seed} is reserved for the benchmark's test cubes; training must use another")


BENCH_GEOMETRY = "nirps-h4rg"


def bench_geometry(n_rows: int = BENCH_ROWS, name: str = BENCH_GEOMETRY) -> ReadoutGeometry:
    """The bench strip: ``n_rows`` rows of the preset ``name`` (by default a NIRPS H4RG)."""
    return preset(name, n_rows=n_rows)
