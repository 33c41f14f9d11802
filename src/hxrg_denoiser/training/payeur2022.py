"""Training of ribbon networks (``payeur2022``): the L4 loss on samples built from darks and scenes.

The loop itself (:mod:`hxrg_denoiser.training.loop`) is that of every
architecture: every batch is drawn from a random stream keyed by ``(seed,
epoch, step)`` and dropout is seeded the same way, so a run interrupted and
resumed gives the same result as one that was not. A run folder holds:

* ``checkpoint/`` weights, optimizer state (safetensors) and ``state.json``
  (epoch, step, history, configuration), written every ``checkpoint_every``
  steps, at each epoch end and on interruption;
* ``model.safetensors`` + ``model.json``: the weights with the best
  validation loss so far, ready for ``hxrg denoise``;
* ``loss.png``: training and validation loss per epoch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hxrg_denoiser.models.registry import ModelSpec, build_model
from hxrg_denoiser.training.checkpoint import check_same_settings
from hxrg_denoiser.training.loop import LoopSettings, check_training_settings, run_training
from hxrg_denoiser.training.payeur2022_samples import RibbonSampler
from hxrg_denoiser.training.streams import Stream

__all__ = ["TrainConfig", "train", "l4_loss", "RibbonTask"]

@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters; defaults are those of Payeur et al. (2022).

    Attributes
    ----------
    epochs : int
    steps_per_epoch : int
        219 = 7 x 500 training rows / batch 16.
    batch_size : int
    learning_rate : float
    lr_decay : float
        Multiplies the learning rate after every epoch.
    validation_samples : int
        Validation rows evaluated at the end of every epoch (the same rows each time).
    seed : int
    device : str
        ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    mixed_precision : bool
        bf16 autocast, on CUDA and on CPUs with native bf16 (AVX512-BF16 or AMX; 1.8x faster steps on a
        2-core AVX512-BF16 machine); float32 elsewhere.
    checkpoint_every : int
        Steps between mid-epoch checkpoints.
    loader_workers : int
        Processes building the next batches while the network trains on this one (0: built in turn). The
        batches do not depend on it: each is drawn from the stream of its ``(seed, epoch, step)``.
    """

    epochs: int = 50
    steps_per_epoch: int = 219
    batch_size: int = 16
    learning_rate: float = 2e-3
    lr_decay: float = 0.98
    validation_samples: int = 500
    seed: int = 1
    device: str = "auto"
    mixed_precision: bool = True
    checkpoint_every: int = 50
    loader_workers: int = 1


def l4_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(prediction - target)^4``, the loss of Payeur et al. (2022)."""
    return torch.mean((prediction - target) ** 4)


class RibbonTask:
    """A ribbon network (``payeur2022``) trained with the L4 loss on samples from a :class:`RibbonSampler`."""

    loss_label = "L4 loss (scaled units)"

    def __init__(self, sampler: RibbonSampler, spec: ModelSpec, config: TrainConfig, run_dir: Path) -> None:
        self.sampler, self.spec, self.config, self.run_dir = sampler, spec, config, run_dir

    def build_model(self) -> torch.nn.Module:
        return build_model(self.spec, source="--model-set")

    def draw_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, labels)``: ``(batch, positions, features)`` and ``(batch, positions, channels)``."""
        batch = self.sampler.batch(rng, self.config.batch_size)
        return torch.from_numpy(batch.inputs), torch.from_numpy(batch.labels)

    def loss(self, network, model, batch, device: torch.device, autocast: bool) -> torch.Tensor:
        inputs, labels = batch
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            prediction = network(inputs.to(device)).float()
        return l4_loss(prediction, labels.to(device))

    def validation_sums(self, model, device: torch.device, autocast: bool, rank: int, world: int) -> tuple[float, float]:
        """L4 loss over the same validation samples every epoch; each rank takes every world-th sample."""
        config = self.config
        mine = [i for i in range(config.validation_samples) if i % world == rank]
        total = 0.0
        for start in range(0, len(mine), config.batch_size):
            pairs = [self.sampler.sample(np.random.default_rng([config.seed, Stream.VALIDATION, i]), "validation")
                     for i in mine[start : start + config.batch_size]]
            inputs = torch.from_numpy(np.stack([p[0] for p in pairs])).to(device)
            labels = torch.from_numpy(np.stack([p[1] for p in pairs])).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                prediction = model(inputs).float()
            total += l4_loss(prediction, labels).item() * len(pairs)
        return total, float(len(mine))

    def model_spec(self, history: list[dict], world: int) -> ModelSpec:
        best = min(history, key=lambda h: h["validation_loss"])
        return dataclasses.replace(self.spec, training={**self.spec.training, "epochs_trained": best["epoch"] + 1,
                                                        "validation_loss": best["validation_loss"],
                                                        "world_size": world})

    def state_extras(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "spec": json.loads(self.spec.to_json())}

    def check_resume(self, saved_state: dict) -> None:
        saved = saved_state.get("spec", {})
        check_same_settings(self.run_dir, {"architecture": saved.get("architecture"), **saved.get("config", {})},
                            {"architecture": self.spec.architecture, **self.spec.config},
                            "model settings (--model, --model-set)")
        check_training_settings(self.run_dir, saved_state.get("config", {}), dataclasses.asdict(self.config))


def train(
    sampler: RibbonSampler,
    spec: ModelSpec,
    config: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train ``spec`` on samples from ``sampler`` into ``run_dir`` (the best validation loss is kept); returns the
    final state.

    Raises
    ------
    OutputError
        If ``run_dir`` holds a run and ``resume`` is false.
    """
    settings = LoopSettings(
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, learning_rate=config.learning_rate,
        lr_decay=config.lr_decay, seed=config.seed, device=config.device, mixed_precision=config.mixed_precision,
        checkpoint_every=config.checkpoint_every, loader_workers=config.loader_workers, keep="best",
    )
    return run_training(RibbonTask(sampler, spec, config, Path(run_dir)), settings, run_dir, resume=resume,
                        progress=progress)
