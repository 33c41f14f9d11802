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

import dataclasses
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import ArrayRamp, FirstReads, open_ramp
from hxrg_denoiser.io.safety import atomic_output
from hxrg_denoiser.simulate.held_out import bench_geometry, check_training_seed
from hxrg_denoiser.simulate.injection import InjectedRamp
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.simulate.scenes import echelle_scene, flat_field, make_scene, scale_scene, star_field
from hxrg_denoiser.training.streams import Stream

__all__ = [
    "ExampleSpec", "example_specs", "randomized_example_specs", "scene_example_specs", "dark_example_specs",
    "make_example", "build_examples", "load_examples", "SCENE_MIX", "WIDE_SCENE_MIX",
]

SCENE_MIX = (("echelle", 0.6), ("stars", 0.2), ("flat", 0.2))
# The scenes recipe: spectra, and imaging scenes (of :func:`~hxrg_denoiser.simulate.scenes.make_scene`, their
# brightness scaled by a factor): what users point a detector at besides echelles.
WIDE_SCENE_MIX = (("echelle", 0.3), ("stars", 0.1), ("flat", 0.1), ("stars-moffat", 0.1), ("imaging", 0.15),
                  ("nebula", 0.08), ("echelle-gradient", 0.07), ("sky-field", 0.05), ("long-slit", 0.05))
SCALED_KINDS = ("stars-moffat", "imaging", "nebula", "echelle-gradient", "sky-field", "long-slit")
NO_REFCORR_FRACTION = 0.2  # randomised recipe: examples fitted without reference correction


@dataclass(frozen=True)
class ExampleSpec:
    """How one training exposure is made.

    Attributes
    ----------
    seed : int
        Seed of the noise and of the scene (never a bench seed).
    noise : str
        Noise preset (simulated examples).
    noise_scale : dict
        Factor applied to each correlated noise level of the preset.
    scene : {"echelle", "stars", "flat"}
    level : float
        Echelle: 99th percentile (e-); stars: brightest star (e-); flat: level (e-).
    cosmic_ray_rate : float
    reads : tuple of int
        Read counts fitted (the first reads of the ramp); the ramp has ``max(reads)``.
    noise_changes : dict
        Further settings of the :class:`~hxrg_denoiser.simulate.noise.NoiseModel` (spectrum, forms,
        picture-frame shape, reference-pixel coupling...).
    scene_options : dict
        Echelle: ``curvature`` and ``tilt`` of the orders.
    dark : str or None
        A dark ramp of the user's detector: the scene is accumulated on it (Poisson, read by read)
        instead of on simulated noise; the truth is then the scene itself.
    gain : float
        Electrons per unit of ``dark``.
    calibration : str or None
        With ``dark``: the detector's calibration; the image is corrected with ``sirs``.
    geometry : dict or None
        The geometry of ``dark`` (default: the bench strip).
    refcorr : {"seed", "none"}
        Reference correction of the fitted image (a model also meets images without one: the
        fallback when the reference pixels would inject noise).
    first_read : int or "auto"
        The fitted image's first read (``auto``: as ``hxrg denoise`` leaves out a start transient); the
        oracle is fitted on the same reads.
    """

    seed: int
    noise: str
    noise_scale: dict
    scene: str
    level: float
    cosmic_ray_rate: float
    reads: tuple[int, ...]
    noise_changes: dict = field(default_factory=dict)
    scene_options: dict = field(default_factory=dict)
    dark: str | None = None
    gain: float = 1.0
    calibration: str | None = None
    geometry: dict | None = None
    refcorr: str = "seed"
    first_read: int | str = 0


def _scene_draw(rng: np.random.Generator, kinds, weights) -> tuple[str, float]:
    """A scene kind of the training mix and its brightness (log-uniform in the kind's range; for the imaging
    kinds a factor on the scene as drawn)."""
    scene = str(rng.choice(kinds, p=weights))
    low, high = {"echelle": (10.0, 100.0), "stars": (300.0, 10000.0), "flat": (1.0, 3000.0)}.get(scene, (0.2, 3.0))
    return scene, float(np.exp(rng.uniform(np.log(low), np.log(high))))


def detector_effects(rng: np.random.Generator) -> dict:
    """Detector effects of a training exposure, each present with some probability, at levels below bench-v3's.

    A start transient (30 %: 5-30 e-, 0.5-1.5 reads), hot pixels (30 %: 0.05-0.2 %, 0.2-1 e-/s) with dark
    current (up to 0.02 e-/s), inter-pixel capacitance (30 %: 0.2-1.2 %), telegraph pixels (20 %: 0.02-0.1 %,
    steps of 5-20 e-), non-linearity (30 %: 0.5-3 % at 1e5 e-).
    """
    effects: dict = {}
    if rng.uniform() < 0.3:
        effects.update(reset_anomaly=float(rng.uniform(5.0, 30.0)), reset_tau=float(rng.uniform(0.5, 1.5)))
    if rng.uniform() < 0.3:
        effects.update(hot_pixel_fraction=float(rng.uniform(5e-4, 2e-3)), hot_pixel_current=float(rng.uniform(0.2, 1.0)),
                       dark_current=float(rng.uniform(0.0, 0.02)))
    if rng.uniform() < 0.3:
        effects["ipc"] = float(rng.uniform(0.002, 0.012))
    if rng.uniform() < 0.2:
        effects.update(rts_fraction=float(rng.uniform(2e-4, 1e-3)), rts_amplitude=float(rng.uniform(5.0, 20.0)))
    if rng.uniform() < 0.3:
        effects["nonlinearity"] = float(rng.uniform(0.005, 0.03))
    return effects


def scene_example_specs(count: int, seed: int, *, n_reads: int = 100) -> list[ExampleSpec]:
    """``count`` examples of the scenes recipe: the presets' noise as :func:`example_specs` draws it, the scenes
    of :data:`WIDE_SCENE_MIX`, :func:`detector_effects`, fitted as ``hxrg denoise`` fits (``--first-read
    auto``), a fifth without reference correction. bench-v3's levels, forms and seeds lie outside."""
    rng = np.random.default_rng([seed, Stream.SCENE_EXAMPLES])
    specs = []
    for spec in _preset_specs(rng, count, seed, n_reads, WIDE_SCENE_MIX):
        changes = detector_effects(rng)
        refcorr = "none" if rng.uniform() < NO_REFCORR_FRACTION else "seed"
        specs.append(dataclasses.replace(spec, noise_changes=changes, refcorr=refcorr, first_read="auto"))
    return specs


def _preset_specs(rng: np.random.Generator, count: int, seed: int, n_reads: int, mix):
    """Examples on the two presets, every correlated level scaled 0.6-1.4, a scene of ``mix``, cosmic rays in a
    fifth, the full ramp and a shorter one: yielded one by one, so that a recipe may draw more for each."""
    kinds, weights = zip(*mix)
    for i in range(count):
        example_seed = seed + i
        check_training_seed(example_seed)
        noise = ("nirspec", "h4rg-lab")[i % 2]
        preset = noise_preset(noise)
        scale = {name: float(rng.uniform(0.6, 1.4)) for name in preset.correlated_components}
        scene, level = _scene_draw(rng, kinds, weights)
        cosmic = 5.0 if rng.uniform() < 0.2 else 0.0
        short = int(rng.integers(3, n_reads // 2))
        yield ExampleSpec(example_seed, noise, scale, scene, level, cosmic, (n_reads, short))


def example_specs(count: int, seed: int, *, n_reads: int = 100) -> list[ExampleSpec]:
    """``count`` example descriptions drawn from the first recipe's mix (two presets, levels scaled 0.6-1.4)."""
    rng = np.random.default_rng([seed, Stream.EXAMPLES])
    return list(_preset_specs(rng, count, seed, n_reads, SCENE_MIX))


def randomized_example_specs(count: int, seed: int, *, n_reads: int = 100) -> list[ExampleSpec]:
    """``count`` examples whose noise is randomised in level, spectrum and form.

    Every correlated level of the ``nirspec`` or ``h4rg-lab`` preset is scaled
    by 0.5-1.6 and the white noise by 0.8-1.25; the 1/f spectral index is
    0.85-1.15; the ACN is the alternating 1/f stream of each channel (70 %) or
    one shared by all (30 %); the picture frame is 0.5-3 times the preset's,
    ``exp`` or ``stripes`` shaped, seen 0.5-3 times by the reference pixels;
    reference pixels couple at 0.85-1.15 and have 0-0.3 e- of 1/f noise of
    their own; echelle orders curve 20-60 rows and tilt up to 8 rows; a fifth
    of the examples are fitted without reference correction (the input a
    model gets when the correction would add noise). What
    bench-v2 evaluates lies outside: another generator, other picture-frame
    shapes and reference gains (0, 5, 20), couplings of 0.7 and 1.3, 1/f noise
    drawn anew for each read, even/odd and per-row ACN, straight orders, a sky.
    """
    rng = np.random.default_rng([seed, Stream.RANDOMIZED_EXAMPLES])
    kinds, weights = zip(*SCENE_MIX)
    specs = []
    for i in range(count):
        example_seed = seed + i
        check_training_seed(example_seed)
        noise = ("nirspec", "h4rg-lab")[i % 2]
        preset = noise_preset(noise)
        scale = {name: float(rng.uniform(0.5, 1.6)) for name in preset.correlated_components}
        scale["picture_frame"] = float(rng.uniform(0.5, 3.0))
        changes = {
            "white": preset.white * float(rng.uniform(0.8, 1.25)),
            "pink_alpha": float(rng.uniform(0.85, 1.15)),
            "acn_form": "common" if rng.uniform() < 0.3 else "pink",
            "picture_frame_shape": str(rng.choice(["exp", "stripes"])),
            "picture_frame_ref_gain": float(np.exp(rng.uniform(np.log(0.5), np.log(3.0)))),
            "ref_coupling": float(rng.uniform(0.85, 1.15)),
            "ref_pink": float(rng.uniform(0.0, 0.3)),
        }
        scene, level = _scene_draw(rng, kinds, weights)
        options = {"curvature": float(rng.uniform(20.0, 60.0)), "tilt": float(rng.uniform(-8.0, 8.0))}
        cosmic = 5.0 if rng.uniform() < 0.2 else 0.0
        short = int(rng.integers(3, n_reads // 2))
        refcorr = "none" if rng.uniform() < NO_REFCORR_FRACTION else "seed"
        specs.append(ExampleSpec(example_seed, noise, scale, scene, level, cosmic, (n_reads, short), changes,
                                 options if scene == "echelle" else {}, refcorr=refcorr))
    return specs


def dark_example_specs(
    darks: list[str], per_dark: int, seed: int, *, gain: float = 1.0, calibration: str | None = None,
    geometry: ReadoutGeometry,
) -> list[ExampleSpec]:
    """Examples made of the user's darks plus simulated scenes (``per_dark`` scenes on each dark)."""
    rng = np.random.default_rng([seed, Stream.DARK_EXAMPLES])
    kinds, weights = zip(*SCENE_MIX)
    specs = []
    for d, dark in enumerate(darks):
        with open_ramp(dark) as ramp:
            n_reads = ramp.n_reads
        for j in range(per_dark):
            example_seed = seed + d * per_dark + j
            check_training_seed(example_seed)
            scene, level = _scene_draw(rng, kinds, weights)
            options = {"curvature": float(rng.uniform(20.0, 60.0)), "tilt": float(rng.uniform(-8.0, 8.0))}
            short = int(rng.integers(min(3, n_reads), max(4, n_reads // 2)))
            reads = (n_reads, short) if short < n_reads else (n_reads,)
            specs.append(ExampleSpec(example_seed, "dark", {}, scene, level, 0.0, reads, {},
                                     options if scene == "echelle" else {}, dark=str(dark), gain=gain,
                                     calibration=calibration, geometry=geometry.to_dict()))
    return specs


def _scene(spec: ExampleSpec, geometry: ReadoutGeometry) -> np.ndarray:
    if spec.scene == "echelle":
        drawn = echelle_scene(geometry, seed=spec.seed, **spec.scene_options)
        return scale_scene(drawn, geometry, p99=spec.level).image
    if spec.scene == "stars":
        return star_field(geometry, seed=spec.seed, brightest=spec.level).image
    if spec.scene in SCALED_KINDS:
        return make_scene(spec.scene, geometry, seed=spec.seed).scaled(spec.level).image
    return flat_field(geometry, level=spec.level, seed=spec.seed).image


def make_example(spec: ExampleSpec, geometry: ReadoutGeometry | None = None) -> dict[str, np.ndarray]:
    """Simulate ``spec`` and fit it: arrays ``flux`` and ``oracle`` of shape ``(len(reads), rows, cols)``, ``truth``, ``reads``.

    ``flux`` is the reference-corrected up-the-ramp image of the first
    ``reads[k]`` reads (``seed``; ``sirs`` with a calibration), ``oracle`` the
    fit of the same reads with the correlated noise removed; both in electrons
    accumulated over those reads. On a user's dark the correlated noise is not
    known apart from the white: ``oracle`` is then the scene itself (its
    accumulated expectation), so that the target holds all the noise, whose
    unpredictable white part only adds a constant to the loss.
    """
    if spec.geometry is not None:
        geometry = ReadoutGeometry.from_dict(spec.geometry)
    geometry = geometry or bench_geometry()
    truth = _scene(spec, geometry)
    options = FitOptions(method="utr", refcorr="sirs" if spec.calibration else spec.refcorr,
                         calibration=spec.calibration, first_read=spec.first_read)
    total = max(spec.reads)
    if spec.dark is not None:
        injected = InjectedRamp(open_ramp(spec.dark), truth, seed=spec.seed, gain=spec.gain)
        flux = [fit_ramp(FirstReads(injected, n), geometry, dataclasses.replace(options, gain=spec.gain)).sci
                for n in spec.reads]
        injected.close()
        clean = [truth * np.float32(n / total) for n in spec.reads]
    else:
        preset = noise_preset(spec.noise)
        noise = preset.replace(
            cosmic_ray_rate=spec.cosmic_ray_rate,
            **{name: getattr(preset, name) * factor for name, factor in spec.noise_scale.items()},
            **spec.noise_changes,
        )
        cube, oracle = simulate_cube(geometry, total, noise, scene=truth, seed=spec.seed, oracle=True)
        ramp, oracle_ramp = ArrayRamp(cube, f"train-{spec.seed}"), ArrayRamp(oracle, f"train-{spec.seed}-oracle")
        fitted = [fit_ramp(FirstReads(ramp, n), geometry, options) for n in spec.reads]
        flux = [image.sci for image in fitted]
        clean = [fit_ramp(FirstReads(oracle_ramp, n), geometry,
                          FitOptions(method="utr", refcorr="none", first_read=_first_read(image))).sci
                 for n, image in zip(spec.reads, fitted)]
    return {
        "flux": np.stack(flux).astype(np.float32),
        "oracle": np.stack(clean).astype(np.float32),
        "truth": truth.astype(np.float32),
        "reads": np.array(spec.reads),
    }


def _first_read(image) -> int:
    """The first read a fit used (0 where it does not say)."""
    record = image.provenance.fit
    return int(record.first_read) if record is not None and record.first_read is not None else 0


def _build_one(args: tuple[ExampleSpec, Path]) -> Path:
    spec, path = args
    arrays = make_example(spec)
    with atomic_output(path, overwrite=True) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, flux=arrays["flux"], oracle=arrays["oracle"], truth=arrays["truth"],
                     reads=arrays["reads"])
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

