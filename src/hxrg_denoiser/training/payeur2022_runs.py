"""A ribbon-network training run (``payeur2022``) assembled from what the user names.

:func:`train_on_darks` opens or simulates the darks, builds the scenes, the
model description and the sampler, and runs the trainer; the command line
only parses options into a :class:`DarkTrainingRun` and reports.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hxrg_denoiser.denoise import pick_device
from hxrg_denoiser.errors import OutputError, RampInputError, UsageError
from hxrg_denoiser.geometry import geometry_for_shape, preset
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.io.safety import refuse_input_overlap
from hxrg_denoiser.models.config import config_from_dict
from hxrg_denoiser.models.registry import ARCHITECTURES, ModelSpec
from hxrg_denoiser.simulate.held_out import check_training_seed
from hxrg_denoiser.simulate.scenes import load_scene, scale_scene
from hxrg_denoiser.training.checkpoint import has_checkpoint
from hxrg_denoiser.training.darks_and_scenes import simulated_darks, training_scenes
from hxrg_denoiser.training.payeur2022 import TrainConfig, train
from hxrg_denoiser.training.payeur2022_samples import RibbonSampler

__all__ = ["DarkTrainingRun", "train_on_darks"]

SCENE_SUFFIXES = (".fits", ".fit", ".fts")


@dataclass(frozen=True)
class DarkTrainingRun:
    """What a ribbon-network run trains on.

    Attributes
    ----------
    architecture : str
        A ribbon architecture (``payeur2022``).
    model_settings : dict
        Changes to the architecture's configuration (``--model-set``).
    darks : tuple of str
        Dark ramps on disk; or none and ``simulate_darks`` > 0.
    simulate_darks : int
        Number of simulated dark strips of ``rows`` rows, ``reads`` reads, noise presets ``noise`` in turn
        (the last dark is the validation one).
    scenes : tuple of str
        Scene kinds (echelle, stars, flat) or FITS files.
    geometry : dict
        ``name``, ``n_channels``, ``butterfly`` (for darks on disk; a preset name for simulated ones).
    """

    architecture: str = "payeur2022"
    model_settings: dict = field(default_factory=dict)
    darks: tuple[str, ...] = ()
    simulate_darks: int = 0
    noise: tuple[str, ...] = ("h4rg-lab",)
    rows: int = 136
    reads: int = 100
    scenes: tuple[str, ...] = ("echelle",)
    geometry: dict = field(default_factory=lambda: {"name": None, "n_channels": None, "butterfly": True})


def _darks_and_geometry(run: DarkTrainingRun, seed: int, progress: bool):
    if bool(run.darks) == bool(run.simulate_darks):
        raise UsageError("give either --darks PATH ... or --simulate-darks N")
    if run.darks:
        darks = [open_ramp(path) for path in run.darks]
        geometry = geometry_for_shape((darks[0].n_rows, darks[0].n_cols), **run.geometry, source=run.darks[0])
        return darks, geometry
    geometry = preset(run.geometry.get("name") or "nirps-h4rg", n_rows=run.rows)
    return simulated_darks(geometry, run.simulate_darks, run.reads, run.noise, seed, progress=progress), geometry


def _check_before_work(run: DarkTrainingRun, seed: int) -> None:
    """What can be checked before darks are simulated: seeds off the benchmark's, scene files present."""
    for i in range(run.simulate_darks):
        check_training_seed(seed + i)
    for i in range(4):
        check_training_seed(seed + 100 + i)  # scene seeds (training_scenes)
    for path in run.scenes:
        if path.lower().endswith(SCENE_SUFFIXES) and not Path(path).is_file():
            raise RampInputError(f"{path}: no such file")


def _scenes(run: DarkTrainingRun, geometry, seed: int) -> list:
    kinds = [s for s in run.scenes if not s.lower().endswith(SCENE_SUFFIXES)]
    scenes = training_scenes(geometry, kinds, seed) if kinds else []
    for path in run.scenes:
        if path not in kinds:
            scenes.append(scale_scene(load_scene(path, geometry), geometry).image)
    return scenes


def train_on_darks(
    run: DarkTrainingRun, config: TrainConfig, out: str | os.PathLike, *, resume: bool = False, progress: bool = True
) -> dict:
    """Train ``run.architecture`` on ``run``'s darks plus scenes into ``out``; returns the trainer's final state.

    Raises
    ------
    UsageError
        On an unknown architecture or contradictory dark options.
    OutputError
        If ``out`` would lie inside a dark folder.
    """
    ribbon = {name for name, (model_class, _) in ARCHITECTURES.items() if getattr(model_class, "input_kind", None) == "ribbons"}
    if run.architecture not in ribbon:
        choices = sorted(ribbon)
        raise UsageError(f"--model {run.architecture!r}: not a ribbon architecture; choose one of {choices} "
                         "(the readout-set model trains with --recipe default)")
    refuse_input_overlap(out, [*run.darks, *(s for s in run.scenes if s.lower().endswith(SCENE_SUFFIXES))])
    pick_device(config.device)  # before any work: a missing GPU is reported at once
    _, config_class = ARCHITECTURES[run.architecture]
    asked: Any = config_from_dict(config_class, {**dataclasses.asdict(config_class()), **run.model_settings}, "--model-set")
    _check_before_work(run, config.seed)
    if has_checkpoint(Path(out)) and not resume:  # said before any dark is simulated (run_training says it too)
        raise OutputError(f"{out}: holds a training run; pass --resume to continue it or choose another folder")
    if run.simulate_darks and run.reads < asked.n_reads:
        raise UsageError(f"--reads {run.reads}: the model takes {asked.n_reads} reads (--model-set n_reads=N to "
                         "change it)")
    darks, geometry = _darks_and_geometry(run, config.seed, progress)
    scenes = _scenes(run, geometry, config.seed)
    defaults = dataclasses.asdict(config_class(n_channels=geometry.n_channels, positions=geometry.channel_width,
                                               n_reference=2 * geometry.ref_border))
    model_config: Any = config_from_dict(config_class, {**defaults, **run.model_settings}, "--model-set")
    spec = ModelSpec(
        architecture=run.architecture, config=dataclasses.asdict(model_config), geometry=geometry.to_dict(),
        n_reads=model_config.n_reads, label_reads=darks[0].n_reads, name=Path(out).name or run.architecture,
        training={"darks": [d.path for d in darks], "scenes": list(run.scenes), "noise": list(run.noise), "seed": config.seed},
    )
    sampler = RibbonSampler(darks, scenes, geometry, n_reads=spec.n_reads, refcorr=spec.refcorr,
                            input_scale=spec.input_scale, label_scale=spec.label_scale)
    try:
        return train(sampler, spec, config, out, resume=resume, progress=progress)
    finally:
        for dark in darks:
            dark.close()
