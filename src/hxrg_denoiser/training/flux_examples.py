"""Training examples for flux-image denoisers: simulated exposures with their exact correlated noise.

An example is one simulated strip exposure (bench-v1 geometry by default)
fitted up the ramp after the ``seed`` reference correction, for one or more
numbers of reads, together with the up-the-ramp fit of the same ramp with its
correlated noise removed (the oracle). Their difference is exactly the
correlated read noise left in the reference-corrected image: the target a
flux-image denoiser learns to predict.

Examples are drawn from a mix of noise levels (the ``nirspec`` and
``h4rg-lab`` presets with each correlated component scaled at random),
scenes (echelle spectra of random brightness, star fields, flat fields of
random level, cosmic rays) and read counts, all keyed by one seed, and are
written one ``.npz`` per example so an interrupted build resumes where it
stopped.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.bench.suite import bench_geometry, check_training_seed
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.output import atomic_output
from hxrg_denoiser.io.ramps import ArrayRamp, FirstReads
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.simulate.scenes import flat_field, make_scene, scale_scene, star_field

__all__ = ["ExampleSpec", "example_specs", "make_example", "build_examples", "load_examples"]

SCENE_MIX = (("echelle", 0.6), ("stars", 0.2), ("flat", 0.2))


@dataclass(frozen=True)
class ExampleSpec:
    """How one training exposure is simulated.

    Attributes
    ----------
    seed : int
        Seed of the noise and of the scene (never a bench-v1 seed).
    noise : str
        Noise preset.
    noise_scale : dict
        Factor applied to each correlated noise level of the preset.
    scene : {"echelle", "stars", "flat"}
    level : float
        Echelle: 99th percentile (e-); stars: brightest star (e-); flat: level (e-).
    cosmic_ray_rate : float
    reads : tuple of int
        Read counts fitted (the first reads of the ramp); the ramp has ``max(reads)``.
    """

    seed: int
    noise: str
    noise_scale: dict
    scene: str
    level: float
    cosmic_ray_rate: float
    reads: tuple[int, ...]


def example_specs(count: int, seed: int, *, n_reads: int = 100) -> list[ExampleSpec]:
    """``count`` example descriptions drawn from the training mix with seed ``seed``."""
    rng = np.random.default_rng([seed, 7])
    kinds, weights = zip(*SCENE_MIX)
    specs = []
    for i in range(count):
        example_seed = seed + i
        check_training_seed(example_seed)
        noise = ("nirspec", "h4rg-lab")[i % 2]
        preset = noise_preset(noise)
        scale = {name: float(rng.uniform(0.6, 1.4)) for name in preset.correlated_components}
        scene = str(rng.choice(kinds, p=weights))
        level = {
            "echelle": float(np.exp(rng.uniform(np.log(10.0), np.log(100.0)))),
            "stars": float(np.exp(rng.uniform(np.log(300.0), np.log(10000.0)))),
            "flat": float(np.exp(rng.uniform(np.log(1.0), np.log(3000.0)))),
        }[scene]
        cosmic = 5.0 if rng.uniform() < 0.2 else 0.0
        short = int(rng.integers(3, n_reads // 2))
        specs.append(ExampleSpec(example_seed, noise, scale, scene, level, cosmic, (n_reads, short)))
    return specs


def _scene(spec: ExampleSpec, geometry: ReadoutGeometry) -> np.ndarray:
    if spec.scene == "echelle":
        return scale_scene(make_scene("echelle", geometry, seed=spec.seed), geometry, p99=spec.level).image
    if spec.scene == "stars":
        return star_field(geometry, seed=spec.seed, brightest=spec.level).image
    return flat_field(geometry, level=spec.level, seed=spec.seed).image


def make_example(spec: ExampleSpec, geometry: ReadoutGeometry | None = None) -> dict[str, np.ndarray]:
    """Simulate ``spec`` and fit it: arrays ``flux`` and ``oracle`` of shape ``(len(reads), rows, cols)``, ``truth``, ``reads``.

    ``flux`` is the reference-corrected (``seed``) up-the-ramp image of the
    first ``reads[k]`` reads, ``oracle`` the fit of the same reads with the
    correlated noise removed; both in electrons accumulated over those reads.
    """
    geometry = geometry or bench_geometry()
    preset = noise_preset(spec.noise)
    noise = preset.replace(
        cosmic_ray_rate=spec.cosmic_ray_rate,
        **{name: getattr(preset, name) * factor for name, factor in spec.noise_scale.items()},
    )
    truth = _scene(spec, geometry)
    cube, oracle = simulate_cube(geometry, max(spec.reads), noise, scene=truth, seed=spec.seed, oracle=True)
    ramp, oracle_ramp = ArrayRamp(cube, f"train-{spec.seed}"), ArrayRamp(oracle, f"train-{spec.seed}-oracle")
    flux, clean = [], []
    for n in spec.reads:
        flux.append(fit_ramp(FirstReads(ramp, n), geometry, FitOptions(method="utr", refcorr="seed")).sci)
        clean.append(fit_ramp(FirstReads(oracle_ramp, n), geometry, FitOptions(method="utr", refcorr="none")).sci)
    return {
        "flux": np.stack(flux).astype(np.float32),
        "oracle": np.stack(clean).astype(np.float32),
        "truth": truth.astype(np.float32),
        "reads": np.array(spec.reads),
    }


def _build_one(args: tuple[ExampleSpec, Path]) -> Path:
    spec, path = args
    arrays = make_example(spec)
    with atomic_output(path, overwrite=True) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def build_examples(
    folder: str | os.PathLike, specs: list[ExampleSpec], *, workers: int = 1, progress: bool = True
) -> list[Path]:
    """Write every example of ``specs`` to ``folder`` (``example-SEED.npz``), skipping those already there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"example-{spec.seed}.npz" for spec in specs]
    todo = [(spec, path) for spec, path in zip(specs, paths) if not path.is_file()]
    with atomic_output(folder / "examples.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps([asdict(spec) for spec in specs], indent=1))
    with tqdm(total=len(specs), initial=len(specs) - len(todo), desc="simulating examples", unit="exp",
              disable=not progress) as bar:
        if workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(workers) as pool:
                for _ in pool.map(_build_one, todo):
                    bar.update()
        else:
            for item in todo:
                _build_one(item)
                bar.update()
    return paths


def load_examples(paths: list[Path]) -> list[dict[str, np.ndarray]]:
    """Read example files back (arrays in memory)."""
    examples = []
    for path in paths:
        with np.load(path) as data:
            examples.append({key: data[key] for key in data.files})
    return examples

