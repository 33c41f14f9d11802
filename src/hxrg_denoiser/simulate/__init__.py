"""Simulated HxRG dark ramps, astrophysical scenes and science ramps with known truth."""

from hxrg_denoiser.simulate.noise import NOISE_PRESETS, DarkNoise, NoiseModel, PinkNoise, noise_preset
from hxrg_denoiser.simulate.products import SimulationRequest, write_simulation
from hxrg_denoiser.simulate.ramp import RampSimulator, SimulatedRead, simulate_cube
from hxrg_denoiser.simulate.scenes import (
    SCENE_KINDS,
    EchelleOrder,
    Scene,
    echelle_scene,
    flat_field,
    load_scene,
    make_scene,
    mirror_channels,
    scale_scene,
    star_field,
)

__all__ = [
    "NOISE_PRESETS",
    "NoiseModel",
    "noise_preset",
    "PinkNoise",
    "DarkNoise",
    "RampSimulator",
    "SimulatedRead",
    "simulate_cube",
    "SimulationRequest",
    "write_simulation",
    "SCENE_KINDS",
    "Scene",
    "EchelleOrder",
    "echelle_scene",
    "star_field",
    "flat_field",
    "load_scene",
    "make_scene",
    "scale_scene",
    "mirror_channels",
]
