"""``hxrg train`` and ``hxrg models``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from hxrg_denoiser.cli.options import (
    add_geometry_arguments,
    add_output,
    geometry_args,
    nonnegative_int,
    parse_settings,
    positive_float,
    positive_int,
    read_paths,
)
from hxrg_denoiser.errors import UsageError

__all__ = ["register"]

# Options of `hxrg train` for ribbon networks, each with the field of DarkTrainingRun or TrainConfig it sets
# (their defaults are those of the library); --recipe default uses none of them.
RIBBON_RUN_OPTIONS = {"model": "architecture", "simulate_darks": "simulate_darks", "noise": "noise", "rows": "rows",
                      "reads": "reads"}
RIBBON_TRAIN_OPTIONS = {"batch_size": "batch_size", "lr": "learning_rate", "lr_decay": "lr_decay",
                        "val_samples": "validation_samples", "device": "device", "epochs": "epochs",
                        "steps_per_epoch": "steps_per_epoch", "seed": "seed", "workers": "loader_workers"}
RIBBON_OPTIONS = (*RIBBON_RUN_OPTIONS, "model_set", "scene", "resume", "batch_size", "lr", "lr_decay", "val_samples",
                  "device")
RECIPE_OPTIONS = ("examples", "calibration", "start_from", "gain")


def register(sub, common: argparse.ArgumentParser) -> dict:
    """Add ``denoise``, ``train`` and ``models``; returns their runners."""
    _add_train_parser(sub, common)
    sub.add_parser("models", parents=[common], help="list the architectures and shipped models",
                   description="List the architectures and the shipped models with their parameter counts.")
    return {"train": run_train, "models": run_models}


def _add_train_parser(sub, common: argparse.ArgumentParser) -> None:
    tr = sub.add_parser(
        "train", parents=[common],
        help="train a network on darks plus scenes",
        description="Train a model. --recipe default: the readout-set model that ships as 'default', on simulated "
        "exposures (<= 1 h on 2 CPU cores; run the same command again to resume). Otherwise a ribbon network "
        "(payeur2022) on samples built on the fly from dark ramps (files, or simulated) and scenes. Examples: "
        "hxrg train --recipe scenes -o runs/scenes;  "
        "hxrg train --model payeur2022 --simulate-darks 2 --scene echelle -o runs/payeur",
    )
    add_output(tr, "run folder: checkpoints, model, loss curve (created if needed)")
    tr.add_argument("--recipe", choices=("default", "randomized", "scenes"),
                    help="a complete recipe, which simulates its training exposures and trains the readout-set model: "
                    "'scenes' as the shipped model is trained (imaging scenes, gradients, extended emission and "
                    "detector effects beside echelles); 'default' on echelles, stars and flats only; 'randomized' "
                    "on noise randomised in level, spectrum and form (default: none, a ribbon network run)")
    tr.add_argument("--darks", nargs="+", metavar="DARK",
                    help="dark ramps of your detector (folders of reads, 3D or 4D cubes); with --recipe default the "
                    "shipped model is fine-tuned on them plus simulated scenes, the last one held out for "
                    "validation (default: none)")
    recipe = tr.add_argument_group("--recipe default")
    recipe.add_argument("--examples", type=positive_int, help="number of simulated exposures (default: the recipe's, 128 for default, 192 for randomized, "
                        "160 for scenes)")
    recipe.add_argument("--calibration", metavar="FILE",
                        help="with --darks: the detector's calibration (`hxrg calibrate`); the model then takes "
                        "sirs-corrected images (default: seed)")
    recipe.add_argument("--start-from", metavar="MODEL",
                        help="with --darks: the model to fine-tune, a shipped name or a path (default: default)")
    recipe.add_argument("--gain", type=positive_float, help="with --darks: electrons per unit of the darks (default 1)")
    ribbon = tr.add_argument_group("ribbon networks (payeur2022)")
    ribbon.add_argument("--model", help="architecture, see `hxrg models` (default payeur2022)")
    ribbon.add_argument("--model-set", action="append", metavar="KEY=VALUE",
                        help="change an architecture setting, e.g. --model-set gru_units=32 (default: none)")
    ribbon.add_argument("--simulate-darks", type=positive_int, metavar="N",
                        help="simulate N dark strips instead of --darks (default: none)")
    ribbon.add_argument("--noise", nargs="+",
                        help="noise presets of simulated darks, taken in turn (default h4rg-lab)")
    ribbon.add_argument("--rows", type=positive_int, help="rows of simulated dark strips (default 136)")
    ribbon.add_argument("--reads", type=positive_int, help="reads of simulated darks (default 100)")
    ribbon.add_argument("--scene", nargs="+", help="scene kinds (echelle, stars, flat) or FITS files (default echelle)")
    ribbon.add_argument("--resume", action="store_true", help="continue the run in -o (default: refuse an existing run)")
    ribbon.add_argument("--batch-size", type=positive_int, help="samples per step (default 16)")
    ribbon.add_argument("--lr", type=positive_float, help="learning rate of Adam (default 0.002)")
    ribbon.add_argument("--lr-decay", type=positive_float, help="learning-rate factor per epoch (default 0.98)")
    ribbon.add_argument("--val-samples", type=positive_int, help="validation rows per epoch (default 500)")
    ribbon.add_argument("--device", help="auto (CUDA when present), cpu or cuda (default auto)")
    both = tr.add_argument_group("both")
    both.add_argument("--epochs", type=positive_int, help="epochs (default 50; recipe: 26)")
    both.add_argument("--steps-per-epoch", type=positive_int, help="steps per epoch (default 219; recipe: 150)")
    both.add_argument("--workers", type=nonnegative_int,
                      help="processes building training examples (recipe, default 2) or the next batches while a "
                      "step runs (ribbon networks, default 1; 0 builds them in turn)")
    both.add_argument("--seed", type=nonnegative_int, help="training seed; bench seeds are refused (default 1)")
    add_geometry_arguments(tr)


def _given(args: argparse.Namespace, names) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n) not in (None, False)]


def run_train(args: argparse.Namespace) -> int:
    """Run ``hxrg train`` in its run folder, locked against a second training into the same folder."""
    import contextlib

    from hxrg_denoiser.io.safety import locked_folder, refuse_input_overlap

    refuse_input_overlap(args.output, read_paths(args, models=[args.start_from]))
    first_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 holds the lock for all
    with locked_folder(args.output) if first_rank else contextlib.nullcontext():
        return _run_train(args)


def _run_train(args: argparse.Namespace) -> int:
    if args.recipe is not None:
        unused = _given(args, RIBBON_OPTIONS)
        if unused:
            raise UsageError(f"{', '.join(unused)}: not used by --recipe {args.recipe}")
        if args.recipe != "default" and args.darks:
            raise UsageError("--darks: fine-tuning on darks is --recipe default --darks (it starts from a trained model)")
        return _train_default_recipe(args)
    unused = _given(args, RECIPE_OPTIONS)
    if unused:
        raise UsageError(f"{', '.join(unused)}: only used with --recipe")
    return _train_ribbon_model(args)


def _train_ribbon_model(args: argparse.Namespace) -> int:
    from hxrg_denoiser.training.payeur2022 import TrainConfig
    from hxrg_denoiser.training.payeur2022_runs import DarkTrainingRun, train_on_darks

    def given(mapping: dict[str, str]) -> dict:
        return {field: getattr(args, dest) for dest, field in mapping.items() if getattr(args, dest) is not None}

    options: dict[str, Any] = {**given(RIBBON_RUN_OPTIONS), **({"scenes": tuple(args.scene)} if args.scene else {})}
    if "noise" in options:
        options["noise"] = tuple(options["noise"])
    run = DarkTrainingRun(model_settings=parse_settings(args.model_set or [], "--model-set"),
                          darks=tuple(args.darks or ()), geometry=geometry_args(args), **options)
    config = TrainConfig(**given(RIBBON_TRAIN_OPTIONS))
    try:
        state = train_on_darks(run, config, args.output, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"hxrg train: interrupted; checkpoint saved, continue with --resume -o {args.output}", file=sys.stderr)
        return 130
    finally:
        _leave_process_group()
    if state.get("world_size", 1) > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0
    for record in state["history"]:
        print(f"epoch {record['epoch'] + 1}: train loss {record['train_loss']:.4g}, "
              f"validation loss {record['validation_loss']:.4g}")
    print(f"wrote {args.output}/model.safetensors, model.json, loss.png")
    return 0


def _train_default_recipe(args: argparse.Namespace) -> int:
    import dataclasses

    from hxrg_denoiser.training.readout_set_recipes import (
        DARK_RECIPE,
        RECIPES,
        default_train_config,
        run_default_recipe,
    )

    changes = {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "seed": args.seed}
    changes = {k: v for k, v in changes.items() if v is not None}
    for name in ("calibration", "start_from", "gain"):
        if getattr(args, name) is not None and not args.darks:
            raise UsageError(f"--{name.replace('_', '-')} applies to --recipe default with --darks")
    try:
        if args.darks:
            if args.examples is not None:
                raise UsageError("--examples applies to the simulated recipe, not to --darks")
            dark_defaults = {"learning_rate": DARK_RECIPE.learning_rate, "epochs": DARK_RECIPE.epochs}
            weights = _train_on_darks(args, dataclasses.replace(
                default_train_config(), **{**dark_defaults, **changes}))
        else:
            config = dataclasses.replace(default_train_config(), **changes)
            weights = run_default_recipe(args.output, workers=2 if args.workers is None else args.workers, examples=args.examples,
                                         config=config, progress=not args.quiet, recipe=RECIPES[args.recipe])
    except KeyboardInterrupt:
        print(f"hxrg train: interrupted; run the same command again to continue in {args.output}", file=sys.stderr)
        return 130
    finally:
        _leave_process_group()
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    print(f"wrote {weights}, {weights.with_suffix('.json')}, loss.png")
    return 0


def _leave_process_group() -> None:
    """Tear down the torchrun process group, if this process joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _train_on_darks(args: argparse.Namespace, config):
    from hxrg_denoiser.batch import expand_inputs
    from hxrg_denoiser.denoise import model_geometry
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.models.registry import load_model
    from hxrg_denoiser.training.readout_set_recipes import run_dark_recipe

    darks = expand_inputs(args.darks)
    start_from = args.start_from or "default"
    _, spec = load_model(start_from)
    with open_ramp(darks[0]) as ramp:  # the geometry given, else the starting model's (any rows)
        geometry = model_geometry(spec, (ramp.n_rows, ramp.n_cols), darks[0], **geometry_args(args))
    return run_dark_recipe(args.output, darks, geometry, calibration=args.calibration, gain=args.gain or 1.0,
                           start_from=start_from, workers=2 if args.workers is None else args.workers, config=config,
                           progress=not args.quiet)


def run_models(args: argparse.Namespace) -> int:
    """Run ``hxrg models``."""
    from hxrg_denoiser.models.registry import catalogue

    entries = catalogue()
    print(f"{'name':<14} {'kind':<24} {'parameters':>12}  geometry (channels x width)")
    for entry in entries:
        print(f"{entry.name:<14} {entry.kind:<24} {entry.parameters:>12,}  {entry.geometry}")
    for entry in entries:
        if entry.figures:
            print(f"\n{entry.name}: measured with `{entry.figures.get('command', '?')}`")
            for label, value in entry.figures.items():
                if label != "command":
                    print(f"  {label}: {value}")
    return 0
