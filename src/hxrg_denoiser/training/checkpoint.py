"""Training checkpoints, written as one atomic set and read back with clear errors.

A checkpoint is a folder ``RUN/checkpoint/`` holding ``state.json`` (epoch,
step, history, configuration) and one safetensors file per group of tensors
(``model``, ``optimizer``, ``average``...). It is written whole into a
temporary folder and renamed into place (:func:`~hxrg_denoiser.io.safety.atomic_folder`),
so a kill at any moment leaves the previous checkpoint or the new one, never a
mix of the two; a kill between the two renames leaves the previous one as
``checkpoint.previous``, which :func:`load_checkpoint` uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from hxrg_denoiser.errors import CheckpointError, one_line
from hxrg_denoiser.io.safety import atomic_folder, usual_permissions

__all__ = [
    "has_checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "optimizer_tensors",
    "restore_optimizer",
    "restore_module",
    "check_same_settings",
    "save_training_state",
    "load_training_state",
]

FOLDER = "checkpoint"


def _folder(run_dir: Path) -> Path | None:
    for name in (FOLDER, FOLDER + ".previous"):
        if (run_dir / name).is_dir():
            return run_dir / name
    return None


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a checkpoint (complete or not: loading checks it)."""
    return _folder(Path(run_dir)) is not None


def save_checkpoint(run_dir: str | os.PathLike, tensors: dict[str, dict[str, torch.Tensor]], state: dict) -> Path:
    """Write ``state`` and every group of ``tensors`` as one checkpoint, atomically; returns its folder."""
    target = Path(run_dir) / FOLDER
    with atomic_folder(target) as tmp:
        for name, group in tensors.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in group.items()}, str(tmp / f"{name}.safetensors"))
            usual_permissions(tmp / f"{name}.safetensors")
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
    return target


def load_checkpoint(run_dir: str | os.PathLike, names: tuple[str, ...]) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """Read the tensors ``names`` and the state of the checkpoint in ``run_dir``.

    Raises
    ------
    CheckpointError
        Naming the file that is missing, empty, truncated or not what it should be.
    """
    folder = _folder(Path(run_dir))
    if folder is None:
        raise CheckpointError(f"{Path(run_dir) / FOLDER}: no checkpoint to resume from")
    state_file = folder / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{state_file}: missing; the checkpoint is incomplete") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{state_file}: not a readable checkpoint state ({one_line(err)})") from None
    except RecursionError:
        raise CheckpointError(f"{state_file}: not a checkpoint state (nested too deeply)") from None
    if not isinstance(state, dict) or "epoch" not in state or "history" not in state:
        raise CheckpointError(f"{state_file}: not a checkpoint state (no epoch or history)")
    epoch = state["epoch"]
    if type(epoch) is not int or epoch < 0:
        raise CheckpointError(f"{state_file}: epoch {epoch!r} is not a count of epochs (an integer >= 0)")
    if not isinstance(state["history"], list) or not all(isinstance(r, dict) for r in state["history"]):
        raise CheckpointError(f"{state_file}: history is not a list of epoch records")
    tensors = {}
    for name in names:
        path = folder / f"{name}.safetensors"
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; the checkpoint is incomplete")
        try:
            tensors[name] = load_file(str(path))
        except Exception as err:  # safetensors raises its own error type for truncated files
            raise CheckpointError(f"{path}: not a readable safetensors file ({one_line(err)})") from None
    return tensors, state


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The optimizer's state as flat tensors ``"PARAM.KEY"`` and its parameter groups (JSON)."""
    opt = optimizer.state_dict()
    tensors = {
        f"{pid}.{key}": (value if torch.is_tensor(value) else torch.tensor(value))
        for pid, entries in opt["state"].items()
        for key, value in entries.items()
    }
    return tensors, opt["param_groups"]


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], param_groups, source: str) -> None:
    """Load what :func:`optimizer_tensors` saved; a mismatch is a :class:`CheckpointError` naming ``source``."""
    entries: dict[int, dict] = {}
    try:
        for name, value in tensors.items():
            pid, key = name.split(".", 1)
            entries.setdefault(int(pid), {})[key] = value
        optimizer.load_state_dict({"state": entries, "param_groups": param_groups})
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{source}: optimizer state does not fit this model ({one_line(err)})") from None


def restore_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """``module.load_state_dict(tensors)``; a mismatch is a :class:`CheckpointError` naming ``source``."""
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{source}: weights do not fit this model ({first})") from None


def check_same_settings(run_dir: str | os.PathLike, saved: dict, asked: dict, what: str) -> None:
    """Refuse to resume a run whose saved settings ``saved`` differ from those ``asked`` now.

    Raises
    ------
    CheckpointError
        Listing the first settings that differ.
    """
    keys = sorted(set(saved) | set(asked))
    differ = [k for k in keys if saved.get(k) != asked.get(k)]
    if differ:
        shown = ", ".join(f"{k}: {saved.get(k)!r} in the run, {asked.get(k)!r} now" for k in differ[:3])
        raise CheckpointError(f"{run_dir}: the run was started with other {what} ({shown}); resume with the same "
                              "settings or train into another folder")


def save_training_state(
    run_dir: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict,
    extra: dict[str, torch.nn.Module] | None = None,
) -> Path:
    """One checkpoint of a training run: the model, the optimizer, any ``extra`` modules and ``state``."""
    tensors, groups = optimizer_tensors(optimizer)
    groups_of_tensors = {"model": model.state_dict(), "optimizer": tensors}
    groups_of_tensors.update({name: module.state_dict() for name, module in (extra or {}).items()})
    return save_checkpoint(run_dir, groups_of_tensors, {**state, "param_groups": groups})


def load_training_state(
    run_dir: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, torch.nn.Module] | None = None,
    check: Callable[[dict], None] | None = None,
) -> dict:
    """Restore what :func:`save_training_state` wrote into ``model``, ``optimizer`` and ``extra``; returns the state.

    ``check(state)`` runs before any tensor is restored (e.g. :func:`check_same_settings`), so a run
    resumed with other settings is reported as such rather than as weights that do not fit.
    """
    extra = extra or {}
    tensors, state = load_checkpoint(run_dir, ("model", "optimizer", *extra))
    if check is not None:
        check(state)
    folder = _folder(Path(run_dir)) or Path(run_dir) / FOLDER  # load_checkpoint found it
    if not isinstance(state.get("param_groups"), list):
        raise CheckpointError(f"{folder / 'state.json'}: no optimizer parameter groups; the checkpoint is incomplete")
    restore_module(model, tensors["model"], str(folder / "model.safetensors"))
    restore_optimizer(optimizer, tensors["optimizer"], state["param_groups"], str(folder / "optimizer.safetensors"))
    for name, module in extra.items():
        restore_module(module, tensors[name], str(folder / f"{name}.safetensors"))
    return state
