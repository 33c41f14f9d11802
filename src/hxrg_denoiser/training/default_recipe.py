"""``hxrg train --recipe default``: the recipe that produces the shipped ``default`` model.

1. simulate :data:`RECIPE` ``examples`` strip exposures (bench-v1 geometry,
   100 reads, seeds from ``seed`` on, disjoint from bench-v1's) with the mix of
   :func:`~hxrg_denoiser.training.flux_examples.example_specs`, each fitted
   at 100 reads and at one shorter read count, plus a copy at 100 reads with
   its scene scaled by a random factor in ``scene_factor_range`` (same noise);
2. train a ``readout-set`` network (:mod:`hxrg_denoiser.models.readout_set`)
   on them with :func:`~hxrg_denoiser.training.flux_trainer.train_flux_model`.

Both steps resume: finished examples are kept in ``RUN/examples`` and the
trainer restarts from its last epoch checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.bench.suite import bench_geometry
from hxrg_denoiser.models.readout_set import ReadoutSetConfig
from hxrg_denoiser.training.flux_examples import build_examples, example_specs, load_examples
from hxrg_denoiser.training.flux_trainer import FluxTrainConfig, train_flux_model, training_items

__all__ = ["RECIPE", "default_train_config", "run_default_recipe"]

log = logging.getLogger(__name__)

RECIPE = {"name": "default", "examples": 128, "seed": 200000, "n_reads": 100, "scene_factor_range": [0.0, 3.0]}


def default_train_config() -> FluxTrainConfig:
    """Training settings of the shipped model."""
    return FluxTrainConfig()


def run_default_recipe(
    run_dir: str | Path,
    *,
    workers: int = 2,
    examples: int | None = None,
    config: FluxTrainConfig | None = None,
    model_config: ReadoutSetConfig | None = None,
    progress: bool = True,
) -> Path:
    """Simulate the examples and train the default model into ``run_dir``; returns the model weights path."""
    run_dir = Path(run_dir)
    count = examples or RECIPE["examples"]
    specs = example_specs(count, RECIPE["seed"], n_reads=RECIPE["n_reads"])
    paths = build_examples(run_dir / "examples", specs, workers=workers, progress=progress)
    model_config = model_config or ReadoutSetConfig()
    config = config or default_train_config()
    geometry = bench_geometry()
    items = []
    low, high = RECIPE["scene_factor_range"]
    for spec, path in tqdm(list(zip(specs, paths)), desc="building features", unit="exp", disable=not progress):
        factor = float(np.random.default_rng([spec.seed, 11]).uniform(low, high))
        items.extend(training_items(load_examples([path])[0], geometry, model_config.clip, (factor,)))
    recipe = {**RECIPE, "examples": count}
    return train_flux_model(
        items, run_dir, model_config=model_config, config=config, geometry=geometry, name="default",
        recipe=recipe, progress=progress,
    )
