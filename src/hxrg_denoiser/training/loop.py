"""The one training loop of every architecture: batch, forward, loss, backward, step; validation, checkpoints, resume.

What differs between architectures (the model, its batches, its loss, its
validation, the description saved with its weights) is a
:class:`TrainingTask`; what is common is here, once:

* every batch comes from a random stream keyed by ``(seed, epoch, step)``
  (and the rank under ``torchrun``), and torch is seeded the same way before
  every step, so a run interrupted and resumed gives the same weights as one
  that was not, and the batches do not depend on how many loader processes
  build them;
* one checkpoint policy: weights, optimizer state and any weight average
  (safetensors) plus ``state.json``, written as one set every
  ``checkpoint_every`` steps, at each epoch end and on interruption;
* CPU or CUDA, bf16 autocast where the device computes it natively, DDP
  under ``torchrun`` (``WORLD_SIZE`` > 1), a tqdm bar and ``loss.png``;
* the run folder's ``model.safetensors`` + ``model.json`` hold either the
  weights with the best validation loss (``keep="best"``) or those of the
  last finished epoch (``keep="last"``).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from hxrg_denoiser.denoise import pick_device
from hxrg_denoiser.errors import OutputError, UsageError
from hxrg_denoiser.models.registry import ModelSpec, save_model
from hxrg_denoiser.training.checkpoint import (
    check_same_settings,
    has_checkpoint,
    load_training_state,
    save_training_state,
)

__all__ = ["LoopSettings", "TrainingTask", "run_training", "distributed_context", "cpu_has_bf16", "plot_losses",
           "seed_torch", "rank_zero_first", "NOT_COMPARED_ON_RESUME",
           "check_training_settings"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Training settings a resumed run may change: they change how, not what, it computes (or for how long).
NOT_COMPARED_ON_RESUME = ("epochs", "device", "checkpoint_every", "loader_workers")


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs, whatever the architecture.

    Attributes
    ----------
    epochs, steps_per_epoch : int
    learning_rate : float
        Adam's learning rate in the first epoch.
    lr_decay : float
        Multiplies the learning rate after every epoch.
    seed : int
        Keys the initial weights, every batch and every step's torch random state.
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
    mixed_precision : bool
        bf16 autocast on CUDA and on CPUs that compute bf16 natively (:func:`cpu_has_bf16`); float32 elsewhere.
    checkpoint_every : int
        Steps between mid-epoch checkpoints (0: epoch ends and interruptions only).
    loader_workers : int
        Processes building the next batches while a step runs (0: built in turn). Batches do not depend on it.
    clip_grad : float or None
        Clip the gradient norm to this value.
    average_decay : float or None
        Keep an exponential moving average of the weights with this decay per step; it is the model that is
        validated and saved.
    keep : {"best", "last"}
        Which weights ``model.safetensors`` holds: the best validation loss so far, or the last finished epoch.
    """

    epochs: int
    steps_per_epoch: int
    learning_rate: float
    lr_decay: float
    seed: int
    device: str = "auto"
    mixed_precision: bool = True
    checkpoint_every: int = 0
    loader_workers: int = 0
    clip_grad: float | None = None
    average_decay: float | None = None
    keep: str = "best"

    def __post_init__(self) -> None:
        if self.keep not in ("best", "last"):
            raise UsageError(f"keep={self.keep!r}: expected 'best' or 'last'")


class TrainingTask(Protocol):
    """What one architecture's training supplies to :func:`run_training`."""

    loss_label: str  # y label of loss.png

    def build_model(self) -> torch.nn.Module:
        """A fresh (or starting) model; called after torch is seeded with the run's seed."""

    def draw_batch(self, rng: np.random.Generator) -> Any:
        """One training batch (tensors), drawn with ``rng`` only (keyed by the loop by seed, epoch, step, rank)."""

    def loss(self, network: torch.nn.Module, model: torch.nn.Module, batch: Any, device: torch.device,
             autocast: bool) -> torch.Tensor:
        """The training loss of ``batch``; ``network`` is ``model`` or its DDP wrapper (use it for the forward)."""

    def validation_sums(self, model: torch.nn.Module, device: torch.device, autocast: bool, rank: int,
                        world: int) -> tuple[float, float]:
        """``(sum of losses, count)`` over this rank's share of the validation set (the same every epoch)."""

    def model_spec(self, history: list[dict], world: int) -> ModelSpec:
        """The description saved with the weights after the epochs of ``history``."""

    def state_extras(self) -> dict:
        """Settings recorded in ``state.json`` (and compared by :meth:`check_resume`)."""

    def check_resume(self, saved_state: dict) -> None:
        """Raise :class:`~hxrg_denoiser.errors.CheckpointError` if the saved run had other settings."""


def check_training_settings(run_dir: str | os.PathLike, saved: dict, asked: dict) -> None:
    """Refuse to resume a run whose saved training settings (``saved``, as ``state.json`` holds them) differ
    from ``asked`` in any but :data:`NOT_COMPARED_ON_RESUME` (:func:`check_same_settings`)."""
    resumable = [k for k in asked if k not in NOT_COMPARED_ON_RESUME]
    check_same_settings(run_dir, {k: saved.get(k) for k in resumable}, {k: asked[k] for k in resumable},
                        "training settings")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), read from ``/proc/cpuinfo`` (Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def seed_torch(*key: int) -> None:
    """Seed torch's random state from a key of integers (the same key, the same state)."""
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


def rank_zero_first(work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0, then, once it has finished, on the other ranks (a single process just runs it).

    For work that writes files the other ranks then only read (e.g. simulated examples, which are
    skipped when already there).
    """
    rank, world = distributed_context()
    result = work() if rank == 0 else None
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return work() if rank != 0 else result  # type: ignore[return-value]


def plot_losses(history: list[dict], path: Path, ylabel: str = "loss") -> None:
    """Training and validation loss per epoch, log scale."""
    from matplotlib.ticker import MaxNLocator

    from hxrg_denoiser.plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(6, 4), constrained_layout=True)
    epochs = [h["epoch"] + 1 for h in history]
    ax.semilogy(epochs, [h["train_loss"] for h in history], "o-", label="training")
    ax.semilogy(epochs, [h["validation_loss"] for h in history], "s-", label="validation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title("training curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path, overwrite=True)


def _update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``average <- decay * average + (1 - decay) * model``, weight by weight."""
    with torch.no_grad():
        for avg, new in zip(average.parameters(), model.parameters()):
            avg.mul_(decay).add_(new.detach(), alpha=1.0 - decay)


def _validate(task: TrainingTask, model: torch.nn.Module, device: torch.device, autocast: bool, rank: int,
              world: int) -> float:
    """Mean validation loss over all ranks."""
    model.eval()
    with torch.no_grad():
        total, count = task.validation_sums(model, device, autocast, rank, world)
    model.train()
    sums = torch.tensor([total, count], dtype=torch.float64)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(sums)
    return float(sums[0] / sums[1].clamp(min=1))


class StepBatches(torch.utils.data.Dataset):
    """The batches of one epoch from ``first_step`` on: item ``i`` is step ``first_step + i``, drawn by ``draw``
    from the stream of ``(seed, epoch, step, *shard)``, so that it is the same whichever process builds it."""

    def __init__(self, draw: Callable[[np.random.Generator], Any], settings: LoopSettings, epoch: int,
                 first_step: int, shard: tuple[int, ...]) -> None:
        self.draw, self.seed, self.epoch, self.first_step, self.shard = draw, settings.seed, epoch, first_step, shard
        self.steps = settings.steps_per_epoch

    def __len__(self) -> int:
        return max(0, self.steps - self.first_step)

    def __getitem__(self, index: int) -> Any:
        return self.draw(np.random.default_rng([self.seed, self.epoch, self.first_step + index, *self.shard]))


def _batches(task: TrainingTask, settings: LoopSettings, epoch: int, first_step: int, shard: tuple[int, ...]):
    workers = settings.loader_workers
    loader = torch.utils.data.DataLoader(StepBatches(task.draw_batch, settings, epoch, first_step, shard),
                                         batch_size=None, shuffle=False, num_workers=workers,
                                         prefetch_factor=2 if workers else None)
    return iter(loader)


def run_training(
    task: TrainingTask, settings: LoopSettings, run_dir: str | os.PathLike, *, resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train ``task``'s model into ``run_dir``; returns the final state (``history`` per epoch, ...).

    Raises
    ------
    OutputError
        If ``run_dir`` holds a run and ``resume`` is false.
    CheckpointError
        If the run in ``run_dir`` was started with other settings (see :meth:`TrainingTask.check_resume`).
    """
    run_dir = Path(run_dir)
    has_run = has_checkpoint(run_dir)
    if has_run and not resume:
        raise OutputError(f"{run_dir}: holds a training run; pass --resume to continue it or choose another folder")
    device = pick_device(settings.device)
    rank, world = distributed_context()
    run_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    autocast = settings.mixed_precision and (device.type == "cuda" or cpu_has_bf16())
    seed_torch(settings.seed, 0)  # the same initial weights on every rank
    model = task.build_model().to(device)
    network = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    average = copy.deepcopy(model) if settings.average_decay else None
    extras = {"average": average} if average is not None else {}
    kept = average if average is not None else model
    shard = (rank,) if world > 1 else ()  # each rank draws its own batches
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best_validation": None, "world_size": world,
                             "epoch_losses": [], **task.state_extras()}
    if has_run:
        state = load_training_state(run_dir, model, optimizer, extras, check=task.check_resume)
        for key, value in (("step", 0), ("best_validation", state.get("best")), ("epoch_losses", [])):
            state.setdefault(key, value)  # checkpoints of earlier versions
        log.info("resuming %s at epoch %d step %d", run_dir, state["epoch"], state["step"])
    model.train()
    try:
        while state["epoch"] < settings.epochs:
            epoch = state["epoch"]
            lr = settings.learning_rate * settings.lr_decay**epoch
            for group in optimizer.param_groups:
                group["lr"] = lr
            started, losses = time.time(), state["epoch_losses"]
            bar = tqdm(range(state["step"], settings.steps_per_epoch), desc=f"epoch {epoch + 1}/{settings.epochs}",
                       unit="step", disable=not progress or rank != 0, leave=False)
            batches = _batches(task, settings, epoch, state["step"], shard)
            for step in bar:
                batch = next(batches)
                seed_torch(settings.seed, epoch, step, 1, *shard)
                loss = task.loss(network, model, batch, device, autocast)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if settings.clip_grad:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad)
                optimizer.step()
                if average is not None:
                    _update_average(average, model, settings.average_decay or 0.0)
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4g}")
                state["step"] = step + 1
                if settings.checkpoint_every and state["step"] % settings.checkpoint_every == 0 and rank == 0:
                    save_training_state(run_dir, model, optimizer, state, extras)
            for _ in batches:  # at its end the loader stops its worker processes, which would otherwise outlive the run
                pass
            validation = _validate(task, kept, device, autocast, rank, world)
            record = {"epoch": epoch, "train_loss": float(np.mean(losses)), "validation_loss": validation,
                      "learning_rate": lr, "seconds": time.time() - started, "time": time.time()}
            state["history"].append(record)
            log.info("epoch %d: train %.4g, validation %.4g", epoch + 1, record["train_loss"], validation)
            improved = state["best_validation"] is None or validation < state["best_validation"]
            if improved:
                state["best_validation"] = validation
            state.update(epoch=epoch + 1, step=0, epoch_losses=[])
            if rank == 0:  # only rank 0 writes
                if improved or settings.keep == "last":
                    save_model(run_dir / "model.safetensors", kept, task.model_spec(state["history"], world))
                save_training_state(run_dir, model, optimizer, state, extras)
                plot_losses(state["history"], run_dir / "loss.png", ylabel=task.loss_label)
    except KeyboardInterrupt:
        if rank == 0:
            save_training_state(run_dir, model, optimizer, state, extras)
        log.warning("interrupted in epoch %d at step %d; checkpoint saved (the same command with --resume "
                    "continues)", state["epoch"] + 1, state["step"])
        raise
    if world > 1:
        # Every rank waits for rank 0's last writes, so none tears the process group down while another
        # still uses it (a rank leaving early could abort at exit with "terminate called ...").
        import torch.distributed as dist

        dist.barrier()
    return state
