"""Inputs of a training run: darks (files or simulated) and scenes, with seeds kept off the benchmark's."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import ArrayRamp, Ramp
from hxrg_denoiser.simulate.held_out import check_training_seed
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

__all__ = ["simulated_darks", "training_scenes"]


def simulated_darks(
    geometry: ReadoutGeometry, count: int, n_reads: int, noise: str | tuple[str, ...], seed: int, *,
    progress: bool = False,
) -> list[Ramp]:
    """``count`` simulated dark ramps in memory (seeds ``seed, seed + 1, ...``).

    ``noise`` is a preset name, or several taken in turn (dark ``i`` has ``noise[i % len(noise)]``).
    """
    presets = (noise,) if isinstance(noise, str) else tuple(noise)
    darks: list[Ramp] = []
    for i in tqdm(range(count), desc="simulating darks", unit="dark", disable=not progress, leave=False):
        check_training_seed(seed + i)
        name = presets[i % len(presets)]
        cube = simulate_cube(geometry, n_reads, noise_preset(name), seed=seed + i)
        darks.append(ArrayRamp(cube, f"simulated-dark-{name}-s{seed + i}"))
    return darks


def training_scenes(geometry: ReadoutGeometry, kinds: list[str], seed: int, count: int = 4) -> list[np.ndarray]:
    """Scenes for training: ``count`` echelle scenes with different seeds (or the other kinds once each)."""
    scenes = []
    for kind in kinds:
        for i in range(count if kind == "echelle" else 1):
            check_training_seed(seed + 100 + i)
            scenes.append(make_scene(kind, geometry, seed=seed + 100 + i).image)
    return scenes
