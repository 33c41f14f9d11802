"""A plain training loop: batch, forward, loss, backward, step; validation, checkpoints, resume.

Every batch is drawn from a random stream keyed by ``(seed, epoch, step)``
and dropout is seeded the same way, so a run interrupted and resumed gives
the same result as one that was not. A run folder holds:

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
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hxrg_denoiser.denoise import pick_device
from hxrg_denoiser.errors import OutputError
from hxrg_denoiser.models.registry import ModelSpec, build_model, save_model
from hxrg_denoiser.training.checkpoint import (
    check_same_settings,
    has_checkpoint,
    load_training_state,
    save_training_state,
)
from hxrg_denoiser.training.data import RibbonSampler

__all__ = ["TrainConfig", "train", "l4_loss"]

log = logging.getLogger(__name__)


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
        bf16 autocast on CUDA.
    checkpoint_every : int
        Steps between mid-epoch checkpoints.
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


def l4_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(prediction - target)^4``, the loss of Payeur et al. (2022)."""
    return torch.mean((prediction - target) ** 4)


def _seed_torch(*key: int) -> None:
    torch.manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


def distributed_context() -> tuple[int, int]:
    """``(rank, world_size)``; joins the torchrun process group when launched by torchrun with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _validate(model, sampler: RibbonSampler, config: TrainConfig, device, autocast: bool, rank: int, world: int) -> float:
    """Mean L4 loss over the same validation samples every epoch; each rank takes every world-th sample."""
    model.eval()
    mine = [i for i in range(config.validation_samples) if i % world == rank]
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(mine), config.batch_size):
            pairs = [sampler.sample(np.random.default_rng([config.seed, 7919, i]), "validation")
                     for i in mine[start : start + config.batch_size]]
            inputs = torch.from_numpy(np.stack([p[0] for p in pairs])).to(device)
            labels = torch.from_numpy(np.stack([p[1] for p in pairs])).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                prediction = model(inputs).float()
            total += l4_loss(prediction, labels).item() * len(pairs)
    sums = torch.tensor([total, float(len(mine))], dtype=torch.float64)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(sums)
    model.train()
    return float(sums[0] / sums[1].clamp(min=1))


def plot_losses(history: list[dict], path: Path, ylabel: str = "L4 loss (scaled units)") -> None:
    """Training and validation loss per epoch, log scale."""
    import matplotlib.pyplot as plt

    from hxrg_denoiser.plots import save_figure

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    epochs = [h["epoch"] + 1 for h in history]
    ax.semilogy(epochs, [h["train_loss"] for h in history], "o-", label="training")
    ax.semilogy(epochs, [h["validation_loss"] for h in history], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title("training curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path, overwrite=True)


def train(
    sampler: RibbonSampler,
    spec: ModelSpec,
    config: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train ``spec`` on samples from ``sampler`` into ``run_dir``; returns the final state.

    Raises
    ------
    OutputError
        If ``run_dir`` holds a run and ``resume`` is false.
    """
    run_dir = Path(run_dir)
    has_run = has_checkpoint(run_dir)
    if has_run and not resume:
        raise OutputError(f"{run_dir}: holds a training run; pass --resume to continue it or choose another folder")
    device = pick_device(config.device)
    rank, world = distributed_context()
    run_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    autocast = config.mixed_precision and device.type == "cuda"
    _seed_torch(config.seed, 0)  # the same initial weights on every rank
    model = build_model(spec, source="--model-set").to(device)
    network = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    shard = (rank,) if world > 1 else ()  # each rank draws its own samples
    state = {"epoch": 0, "step": 0, "history": [], "best_validation": None, "world_size": world,
             "config": dataclasses.asdict(config), "spec": json.loads(spec.to_json())}
    if has_run:

        def same_settings(saved_state: dict) -> None:
            saved = saved_state.get("spec", {})
            check_same_settings(run_dir, {"architecture": saved.get("architecture"), **saved.get("config", {})},
                                {"architecture": spec.architecture, **spec.config},
                                "model settings (--model, --model-set)")
            resumable = [k for k in dataclasses.asdict(config) if k not in ("epochs", "device", "checkpoint_every")]
            check_same_settings(run_dir, {k: saved_state.get("config", {}).get(k) for k in resumable},
                                {k: dataclasses.asdict(config)[k] for k in resumable}, "training settings")

        state = load_training_state(run_dir, model, optimizer, check=same_settings)
        log.info("resuming %s at epoch %d step %d", run_dir, state["epoch"], state["step"])
    model.train()
    try:
        while state["epoch"] < config.epochs:
            epoch = state["epoch"]
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * config.lr_decay**epoch
            losses = state.setdefault("epoch_losses", [])
            bar = tqdm(range(state["step"], config.steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}",
                       unit="step", disable=not progress or rank != 0, leave=False)
            for step in bar:
                batch = sampler.batch(np.random.default_rng([config.seed, epoch, step, *shard]), config.batch_size)
                _seed_torch(config.seed, epoch, step, 1, *shard)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    prediction = network(torch.from_numpy(batch.inputs).to(device)).float()
                loss = l4_loss(prediction, torch.from_numpy(batch.labels).to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                bar.set_postfix(loss=f"{loss.item():.3g}")
                state["step"] = step + 1
                if state["step"] % config.checkpoint_every == 0 and rank == 0:
                    save_training_state(run_dir, model, optimizer, state)
            validation = _validate(model, sampler, config, device, autocast, rank, world)
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "validation_loss": validation,
                      "learning_rate": optimizer.param_groups[0]["lr"], "time": time.time()}
            state["history"].append(record)
            log.info("epoch %d: train %.4g, validation %.4g", epoch + 1, record["train_loss"], validation)
            improved = state["best_validation"] is None or validation < state["best_validation"]
            if improved:
                state["best_validation"] = validation
            state.update(epoch=epoch + 1, step=0, epoch_losses=[])
            if rank == 0:  # only rank 0 writes
                if improved:
                    best_spec = dataclasses.replace(spec, training={**spec.training, "epochs_trained": epoch + 1,
                                                                    "validation_loss": validation, "world_size": world})
                    save_model(run_dir / "model.safetensors", model, best_spec)
                save_training_state(run_dir, model, optimizer, state)
                plot_losses(state["history"], run_dir / "loss.png")
    except KeyboardInterrupt:
        if rank == 0:
            save_training_state(run_dir, model, optimizer, state)
        raise
    if world > 1:
        # Every rank waits for rank 0's last writes, so none tears the process group down while another
        # still uses it (a rank leaving early could abort at exit with "terminate called ...").
        import torch.distributed as dist

        dist.barrier()
    return state
