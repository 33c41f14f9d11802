"""Training of ``readout-set`` flux-image denoisers on exact correlated-noise targets.

Each training item is one example at one read count: the network's features
for the reference-corrected flux image and, as target, the correlated noise
the classical cleaning missed (``flux - oracle - cleaning estimate``), in the
image's noise units. The loss is the mean squared error over science pixels
plus ``row_weight`` times the squared error of every row's mean (the
low-frequency residual that biases extracted spectra and order fluxes), plus
``flux_weight`` times the squared error of the scene-weighted mean (a network
that took a fraction of the scene for noise would bias every flux).

Batches are random row crops drawn from a stream keyed by ``(seed, epoch,
step)``; checkpoints (safetensors + JSON) are written at every epoch end and
on interruption, and a resumed run gives the same weights as an
uninterrupted one. The run folder gets ``model.safetensors`` + ``model.json``
(the weights after the last finished epoch: with a learning rate decayed
every epoch these are the ones to use, and a small validation set is too noisy
to pick an earlier epoch by) and ``loss.png``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hxrg_denoiser.bench.suite import bench_geometry
from hxrg_denoiser.flux_denoise import readout_features
from hxrg_denoiser.geometry import ReadoutGeometry, channel_streams
from hxrg_denoiser.models.readout_set import ReadoutSetConfig, ReadoutSetNet
from hxrg_denoiser.models.registry import ModelSpec, save_model
from hxrg_denoiser.training.checkpoint import (
    check_same_settings,
    has_checkpoint,
    load_training_state,
    save_training_state,
)
from hxrg_denoiser.training.trainer import _seed_torch, plot_losses

__all__ = ["FluxTrainConfig", "TrainingItem", "training_items", "flux_loss", "train_flux_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FluxTrainConfig:
    """Hyperparameters of :func:`train_flux_model`.

    Attributes
    ----------
    epochs, steps_per_epoch : int
    crop_rows : int
        Rows of each training crop.
    learning_rate : float
    lr_decay : float
        Multiplies the learning rate after every epoch.
    row_weight : float
        Weight of the row-mean term of the loss.
    flux_weight : float
        Weight of the scene-weighted mean error term (bias of fluxes summed over the scene).
    validation_items : int
        Items held out (the last ones) for validation.
    seed : int
    bf16 : bool
        bf16 autocast (fast on CPUs with AMX and on GPUs).
    clip_grad : float
        Gradient norm clipping.
    average_decay : float
        The saved model is the exponential moving average of the weights with this decay per step
        (batches of one crop make single-step weights noisy).
    """

    epochs: int = 26
    steps_per_epoch: int = 150
    crop_rows: int = 96
    learning_rate: float = 1e-3
    lr_decay: float = 0.9
    row_weight: float = 10.0
    flux_weight: float = 20.0
    validation_items: int = 8
    seed: int = 1
    bf16: bool = True
    clip_grad: float = 1.0
    average_decay: float = 0.99


@dataclass
class TrainingItem:
    """Features ``(channels, 4, rows, positions)``; target, science mask and true scene ``(channels, rows, positions)``.

    Features and target are stored as float16 (half the memory; the values
    are a few noise units, well within its precision).
    """

    features: np.ndarray
    target: np.ndarray
    science: np.ndarray
    scene: np.ndarray


def training_items(
    example: dict[str, np.ndarray], geometry: ReadoutGeometry, clip: float, scene_factors: tuple[float, ...] = (),
    skies: tuple[np.ndarray, ...] = (),
) -> list[TrainingItem]:
    """Training items of an example (see :mod:`hxrg_denoiser.training.flux_examples`).

    One item per read count, plus, for the first read count, one per factor
    of ``scene_factors``: the same exposure with its scene multiplied by that
    factor (added to the image and to the oracle alike), and one per image of
    ``skies``: the same exposure on a smooth background (electrons over the
    first read count; added to both). The target, the correlated noise, is
    the same whatever the scene and the background, which teaches the network
    not to take part of either for noise.
    """
    science = np.ascontiguousarray(channel_streams(geometry.to_readout_order(~geometry.reference_mask)))
    reads = example["reads"]
    truth = example["truth"].astype(np.float64)
    images = [(flux, oracle, truth * (n / reads.max())) for flux, oracle, n in zip(example["flux"], example["oracle"], reads)]
    first_scene = images[0][2]  # the scene accumulated over the first read count
    for factor in scene_factors:
        images.append((example["flux"][0] + (factor - 1.0) * first_scene,
                       example["oracle"][0] + (factor - 1.0) * first_scene, factor * first_scene))
    for sky in skies:
        sky = np.where(geometry.reference_mask, 0.0, sky)
        images.append((example["flux"][0] + sky, example["oracle"][0] + sky, first_scene + sky))
    items = []
    for flux, oracle, scene in images:
        features, estimate, sigma = readout_features(flux, geometry, clip)
        noise = geometry.to_readout_order((flux - oracle).astype(np.float64))
        target = channel_streams((noise - estimate) / sigma)
        scene = channel_streams(geometry.to_readout_order(np.clip(scene, 0.0, None)) / sigma)
        items.append(TrainingItem(features.astype(np.float16), np.ascontiguousarray(target, dtype=np.float16), science,
                                  np.ascontiguousarray(scene, dtype=np.float16)))
    return items


def flux_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    science: torch.Tensor,
    row_weight: float,
    scene: torch.Tensor | None = None,
    flux_weight: float = 0.0,
) -> torch.Tensor:
    """Mean squared error over science pixels, + ``row_weight`` x mean squared error of row means,
    + ``flux_weight`` x the squared scene-weighted mean error (the error of a flux summed over the scene).

    Tensors are ``(batch, channels, rows, positions)``; a row is all channels and positions. The
    scene-weighted term is ``(sum(e s) / max(sum(s), 1000))^2`` per batch element, so crops with
    little light do not make it explode.
    """
    weight = science.float()
    error = (prediction.float() - target) * weight
    pixel = error.pow(2).sum() / weight.sum().clamp(min=1.0)
    row_mean = error.sum(dim=(1, 3)) / weight.sum(dim=(1, 3)).clamp(min=1.0)
    loss = pixel + row_weight * row_mean.pow(2).mean()
    if scene is not None and flux_weight > 0:
        light = scene.float() * weight
        flux_error = (error * light).sum(dim=(1, 2, 3)) / light.sum(dim=(1, 2, 3)).clamp(min=1000.0)
        loss = loss + flux_weight * flux_error.pow(2).mean()
    return loss


def _batch(items: list[TrainingItem], rng: np.random.Generator, crop_rows: int) -> tuple[torch.Tensor, ...]:
    """A random crop of rows of a random item, and the whole item's features (for its context)."""
    item = items[int(rng.integers(len(items)))]
    rows = item.features.shape[2]
    start = int(rng.integers(0, max(1, rows - crop_rows + 1)))
    sl = slice(start, start + crop_rows)
    return (
        torch.from_numpy(item.features[None, :, :, sl].astype(np.float32)),
        torch.from_numpy(item.target[None, :, sl].astype(np.float32)),
        torch.from_numpy(np.ascontiguousarray(item.science[None, :, sl])),
        torch.from_numpy(item.features[None].astype(np.float32)),
        torch.from_numpy(item.scene[None, :, sl].astype(np.float32)),
    )


def _predict(model: ReadoutSetNet, features: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """The model on a crop, with the context of the whole image it was cut from."""
    context = None
    if model.config.context:
        context = model.context_sum(whole) / float(whole.shape[1] * whole.shape[3] * whole.shape[4])
    return model(features, context)


def _update_average(average: ReadoutSetNet, model: ReadoutSetNet, decay: float) -> None:
    """``average <- decay * average + (1 - decay) * model``, weight by weight."""
    with torch.no_grad():
        for avg, new in zip(average.parameters(), model.parameters()):
            avg.mul_(decay).add_(new.detach(), alpha=1.0 - decay)


def _validate(model: ReadoutSetNet, items: list[TrainingItem], config: FluxTrainConfig) -> float:
    model.eval()
    losses = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
        for item in items:
            prediction = model(torch.from_numpy(item.features[None].astype(np.float32)))
            target = torch.from_numpy(item.target[None].astype(np.float32))
            scene = torch.from_numpy(item.scene[None].astype(np.float32))
            losses.append(float(flux_loss(prediction, target, torch.from_numpy(item.science[None]), config.row_weight,
                                          scene, config.flux_weight)))
    model.train()
    return float(np.mean(losses))


def train_flux_model(
    items: list[TrainingItem],
    run_dir: str | Path,
    *,
    model_config: ReadoutSetConfig | None = None,
    config: FluxTrainConfig | None = None,
    geometry: ReadoutGeometry | None = None,
    name: str = "model",
    recipe: dict | None = None,
    resume: bool = True,
    progress: bool = True,
    initial: ReadoutSetNet | None = None,
    refcorr: str = "seed",
) -> Path:
    """Train a :class:`ReadoutSetNet` on ``items`` (the last ``validation_items`` held out) into ``run_dir``.

    ``initial``: weights to start from (fine-tuning) instead of a fresh network; ``refcorr``: the
    reference correction of the images the model takes (recorded in its file).
    Returns the path of the model's weights (``run_dir/model.safetensors``, last finished epoch).
    """
    config = config or FluxTrainConfig()
    model_config = model_config or ReadoutSetConfig()
    geometry = geometry or bench_geometry()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_items, val_items = items[: -config.validation_items], items[-config.validation_items :]
    if not train_items or not val_items:
        raise ValueError(f"need more than {config.validation_items} training items, got {len(items)}")
    _seed_torch(config.seed, 0)
    model = ReadoutSetNet(model_config)
    if initial is not None:
        model.load_state_dict(initial.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    average = copy.deepcopy(model)  # exponential moving average of the weights: the model that is saved
    state: dict[str, Any] = {"epoch": 0, "history": [], "best": None, "config": dataclasses.asdict(config),
             "model_config": dataclasses.asdict(model_config)}
    if resume and has_checkpoint(run_dir):

        def same_settings(saved: dict) -> None:
            check_same_settings(run_dir, saved.get("model_config", {}), dataclasses.asdict(model_config),
                                "model settings")
            resumable = [k for k in dataclasses.asdict(config) if k != "epochs"]
            check_same_settings(run_dir, {k: saved.get("config", {}).get(k) for k in resumable},
                                {k: dataclasses.asdict(config)[k] for k in resumable}, "training settings")

        state = load_training_state(run_dir, model, optimizer, {"average": average}, check=same_settings)
        log.info("resuming %s at epoch %d", run_dir, state["epoch"])
    spec = ModelSpec(
        architecture="readout-set",
        config=dataclasses.asdict(model_config),
        geometry=geometry.to_dict(),
        n_reads=2,
        label_reads=0,
        input_scale=1.0,
        label_scale=1.0,
        refcorr=refcorr,
        name=name,
        training={"recipe": recipe or {}, "config": dataclasses.asdict(config)},
        input_layout="flux-image/v1",
    )
    for epoch in range(state["epoch"], config.epochs):
        lr = config.learning_rate * config.lr_decay**epoch
        for group in optimizer.param_groups:
            group["lr"] = lr
        started, losses = time.time(), []
        try:
            steps = tqdm(range(config.steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
            for step in steps:
                rng = np.random.default_rng([config.seed, epoch, step])
                features, target, science, whole, scene = _batch(train_items, rng, config.crop_rows)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                    prediction = _predict(model, features, whole)
                loss = flux_loss(prediction, target, science, config.row_weight, scene, config.flux_weight)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
                optimizer.step()
                _update_average(average, model, config.average_decay)
                losses.append(float(loss.detach()))
                steps.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        except KeyboardInterrupt:
            # The epoch restarts from its beginning on resume: batches are keyed by (seed, epoch, step).
            log.warning("interrupted in epoch %d; resume with the same command", epoch + 1)
            raise
        validation = _validate(average, val_items, config)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "validation_loss": validation, "lr": lr,
                  "seconds": time.time() - started}
        state["history"].append(record)
        log.info("epoch %d: train %.4f, validation %.4f", epoch + 1, record["train_loss"], validation)
        state["best"] = validation if state["best"] is None else min(state["best"], validation)
        final_spec = dataclasses.replace(spec, training={**spec.training, "history": state["history"]})
        save_model(run_dir / "model.safetensors", average, final_spec)
        state["epoch"] = epoch + 1
        save_training_state(run_dir, model, optimizer, state, {"average": average})
        plot_losses(state["history"], run_dir / "loss.png", ylabel="loss: squared error + row and flux terms (noise units)")
    (run_dir / "history.json").write_text(json.dumps(state["history"], indent=1))
    return run_dir / "model.safetensors"
