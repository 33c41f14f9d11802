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
step)``; the loop, checkpoints and resume are those of every architecture
(:mod:`hxrg_denoiser.training.loop`): a resumed run gives the same weights
as an uninterrupted one. The run folder gets ``model.safetensors`` + ``model.json``
(the weights after the last finished epoch: with a learning rate decayed
every epoch these are the ones to use, and a small validation set is too noisy
to pick an earlier epoch by) and ``loss.png``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hxrg_denoiser.geometry import ReadoutGeometry, channel_streams
from hxrg_denoiser.io.safety import atomic_output
from hxrg_denoiser.models.readout_set import ReadoutSetConfig, ReadoutSetNet
from hxrg_denoiser.models.readout_set_image import readout_features
from hxrg_denoiser.models.registry import ModelSpec
from hxrg_denoiser.simulate.held_out import bench_geometry
from hxrg_denoiser.training.checkpoint import check_same_settings, has_checkpoint
from hxrg_denoiser.training.loop import LoopSettings, check_training_settings, distributed_context, run_training

__all__ = ["FluxTrainConfig", "TrainingItem", "training_items", "flux_loss", "train_flux_model", "FluxTask"]


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
        bf16 autocast, on GPUs and on CPUs that compute it natively (AVX512-BF16, AMX).
    clip_grad : float
        Gradient norm clipping.
    average_decay : float
        The saved model is the exponential moving average of the weights with this decay per step
        (batches of one crop make single-step weights noisy).
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
    checkpoint_every : int
        Steps between mid-epoch checkpoints (also written at each epoch end and on interruption).
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
    device: str = "auto"
    checkpoint_every: int = 50


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
    skies: tuple[np.ndarray, ...] = (), keep_background: bool = False,
) -> list[TrainingItem]:
    """Training items of an example (see :mod:`hxrg_denoiser.training.readout_set_examples`).

    One item per read count, plus, for the first read count, one per factor
    of ``scene_factors``: the same exposure with its scene multiplied by that
    factor (added to the image and to the oracle alike), and one per image of
    ``skies``: the same exposure on a smooth background (electrons over the
    first read count; added to both). The target, the correlated noise, is
    the same whatever the scene and the background, which teaches the network
    not to take part of either for noise. ``keep_background``: the network sees
    each image less its smooth background, as ``hxrg denoise`` gives it
    (:func:`~hxrg_denoiser.classical.kept_background.smooth_background`).
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
        source = flux
        if keep_background:
            from hxrg_denoiser.classical.kept_background import smooth_background

            source = (flux - smooth_background(flux, geometry).image).astype(np.float32)
        features, estimate, sigma = readout_features(source, geometry, clip)
        noise = geometry.to_readout_order((flux - oracle).astype(np.float64))
        target = channel_streams((noise - estimate) / sigma)
        finite = np.isfinite(target)  # a pixel the fit could not measure (too few reads) teaches nothing
        target = np.where(finite, target, 0.0)
        scene = channel_streams(geometry.to_readout_order(np.clip(scene, 0.0, None)) / sigma)
        items.append(TrainingItem(features.astype(np.float16), np.ascontiguousarray(target, dtype=np.float16),
                                  science & finite, np.ascontiguousarray(scene, dtype=np.float16)))
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


def _predict(network: torch.nn.Module, model: ReadoutSetNet, features: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """The model on a crop, with the context of the whole image it was cut from (``network``: the model or its
    DDP wrapper)."""
    context = None
    if model.config.context:
        context = model.context_sum(whole) / float(whole.shape[1] * whole.shape[3] * whole.shape[4])
    return network(features, context)


class FluxTask:
    """A :class:`ReadoutSetNet` trained on :class:`TrainingItem` (the last ``validation_items`` held out)."""

    loss_label = "loss: squared error + row and flux terms (noise units)"

    def __init__(self, train_items: list[TrainingItem], val_items: list[TrainingItem], model_config: ReadoutSetConfig,
                 config: FluxTrainConfig, spec: ModelSpec, run_dir: Path, initial: ReadoutSetNet | None) -> None:
        self.train_items, self.val_items = train_items, val_items
        self.model_config, self.config, self.spec, self.run_dir, self.initial = (
            model_config, config, spec, run_dir, initial)

    def build_model(self) -> torch.nn.Module:
        model = ReadoutSetNet(self.model_config)
        if self.initial is not None:
            model.load_state_dict(self.initial.state_dict())
        return model

    def draw_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """A random crop of rows of a random item, with the whole item's features (for its context):
        ``(features, target, science, whole, scene)``, batch of one."""
        item = self.train_items[int(rng.integers(len(self.train_items)))]
        rows = item.features.shape[2]
        start = int(rng.integers(0, max(1, rows - self.config.crop_rows + 1)))
        sl = slice(start, start + self.config.crop_rows)
        return (
            torch.from_numpy(item.features[None, :, :, sl].astype(np.float32)),
            torch.from_numpy(item.target[None, :, sl].astype(np.float32)),
            torch.from_numpy(np.ascontiguousarray(item.science[None, :, sl])),
            torch.from_numpy(item.features[None].astype(np.float32)),
            torch.from_numpy(item.scene[None, :, sl].astype(np.float32)),
        )

    def loss(self, network, model, batch, device: torch.device, autocast: bool) -> torch.Tensor:
        features, target, science, whole, scene = (t.to(device) for t in batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            prediction = _predict(network, model, features, whole)
        return flux_loss(prediction, target, science, self.config.row_weight, scene, self.config.flux_weight)

    def validation_sums(self, model, device: torch.device, autocast: bool, rank: int, world: int) -> tuple[float, float]:
        """Loss of every validation item, whole (each rank takes every world-th item)."""
        total, count = 0.0, 0
        for item in self.val_items[rank::world]:
            def tensor(array: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(array[None].astype(np.float32)).to(device)

            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                prediction = model(tensor(item.features))
            science = torch.from_numpy(item.science[None]).to(device)
            total += float(flux_loss(prediction, tensor(item.target), science, self.config.row_weight,
                                     tensor(item.scene), self.config.flux_weight))
            count += 1
        return total, float(count)

    def model_spec(self, history: list[dict], world: int) -> ModelSpec:
        return dataclasses.replace(self.spec, training={**self.spec.training, "history": history})

    def state_extras(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "model_config": dataclasses.asdict(self.model_config)}

    def check_resume(self, saved: dict) -> None:
        check_same_settings(self.run_dir, saved.get("model_config", {}), dataclasses.asdict(self.model_config),
                            "model settings")
        check_training_settings(self.run_dir, saved.get("config", {}), dataclasses.asdict(self.config))


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
    reference correction of the images the model takes (recorded in its file); ``resume``: continue the
    run in ``run_dir`` if there is one (else an existing run is refused).
    Returns the path of the model's weights (``run_dir/model.safetensors``, last finished epoch).
    """
    config = config or FluxTrainConfig()
    model_config = model_config or ReadoutSetConfig()
    geometry = geometry or bench_geometry()
    run_dir = Path(run_dir)
    train_items, val_items = items[: -config.validation_items], items[-config.validation_items :]
    if not train_items or not val_items:
        raise ValueError(f"need more than {config.validation_items} training items, got {len(items)}")
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
    settings = LoopSettings(
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, learning_rate=config.learning_rate,
        lr_decay=config.lr_decay, seed=config.seed, device=config.device, mixed_precision=config.bf16,
        checkpoint_every=config.checkpoint_every, clip_grad=config.clip_grad, average_decay=config.average_decay,
        keep="last",
    )
    task = FluxTask(train_items, val_items, model_config, config, spec, run_dir, initial)
    state = run_training(task, settings, run_dir, resume=resume and has_checkpoint(run_dir), progress=progress)
    if distributed_context()[0] == 0:  # only rank 0 writes
        with atomic_output(run_dir / "history.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(state["history"], indent=1))
    return run_dir / "model.safetensors"
