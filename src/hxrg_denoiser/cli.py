"""The ``hxrg`` command-line tool: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence

from hxrg_denoiser._version import __version__
from hxrg_denoiser.errors import HxrgError

__all__ = ["main", "build_parser"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable:
    """Register the function that runs sub-command ``name``."""

    def register(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = func
        return func

    return register


def _hdu(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def add_geometry_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that say how the input is read out."""
    group = parser.add_argument_group("readout geometry")
    group.add_argument(
        "--geometry",
        metavar="PRESET",
        help="geometry preset: nirps-h4rg, h2rg-32 or jwst-h2rg (a strip of fewer rows is accepted); "
        "`hxrg geometries` lists them",
    )
    group.add_argument(
        "--channels",
        type=int,
        metavar="N",
        help="number of output channels, for arrays that match no preset "
        "(the array size comes from the input, 4 reference pixels per edge)",
    )
    group.add_argument(
        "--no-butterfly",
        dest="butterfly",
        action="store_false",
        help="with --channels: all channels read left to right (default: odd channels reversed)",
    )


def add_input_arguments(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """Options that say where the ramp is (or the ramps are)."""
    if many:
        parser.add_argument(
            "input", nargs="+",
            help="folders of per-read FITS files, 3D FITS cubes or JWST-style 4D cubes (quoted globs allowed); "
            "with several, -o is a folder and they run in parallel on Dask",
        )
        group = parser.add_argument_group("many exposures (Dask)")
        group.add_argument("--workers", type=int, help="local Dask cluster of N worker processes (default 2)")
        group.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
        group.add_argument("--split", type=int, metavar="PARTS",
                           help="one large exposure: split its rows into PARTS tasks across the workers")
    else:
        parser.add_argument("input", help="folder of per-read FITS files, 3D FITS cube, or JWST-style 4D cube")
    parser.add_argument("--hdu", type=_hdu, help="HDU name or index holding the data (default: SCI or first cube)")
    parser.add_argument("--integration", type=int, default=0, help="integration of a 4D cube (default 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="hxrg",
        description="Science images from HxRG up-the-ramp cubes: classical estimators and deep denoisers.",
    )
    parser.add_argument("--version", action="version", version=f"hxrg-denoiser {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fit = sub.add_parser(
        "fit",
        help="flux image by CDS, Fowler or up-the-ramp fitting",
        description="Build a flux image (SCI, ERR, DQ extensions) from a ramp with a classical estimator. "
        "Example: hxrg fit cube.fits -o out.fits --method utr --refcorr seed --geometry nirps-h4rg",
    )
    add_input_arguments(fit, many=True)
    fit.add_argument("-o", "--output", required=True, help="output FITS file (a folder with several inputs)")
    fit.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    fit.add_argument("--method", choices=("utr", "cds", "fowler"), default="utr", help="flux estimator (default utr)")
    fit.add_argument(
        "--refcorr",
        choices=("none", "seed", "smoothed"),
        default="none",
        help="reference-pixel correction: seed = Payeur et al. 2022 recipe, smoothed = JWST refpix-like (default none)",
    )
    fit.add_argument(
        "--weighting", choices=("ols", "optimal"), default="ols", help="UTR weights: least squares or optimal for read+Poisson noise"
    )
    fit.add_argument(
        "--clean", action="store_true",
        help="remove correlated noise left in the flux image (ACN, common mode, channel drifts from dark pixels)",
    )
    fit.add_argument("--fowler", type=int, default=4, metavar="K", help="reads averaged at each end for --method fowler")
    fit.add_argument("--gain", type=float, default=1.0, help="electrons per ADU (default 1)")
    fit.add_argument("--read-noise", type=float, help="read noise per read in electrons (default: estimated)")
    fit.add_argument("--units", choices=("e-", "e-/s"), default="e-", help="electrons over the ramp or per second")
    fit.add_argument("--saturation", type=float, help="ADU level at which a read is saturated (default: none)")
    fit.add_argument("--flag-non-finite", action="store_true", help="flag NaN/inf science pixels in DQ instead of failing")
    fit.add_argument("--strip-rows", type=int, default=128, help="rows processed at a time (memory only)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_geometry_arguments(fit)

    sub.add_parser("geometries", help="list the readout geometry presets")
    _add_simulate_parser(sub)
    _add_inspect_parser(sub)
    _add_model_parsers(sub)
    bench = sub.add_parser(
        "bench",
        help="measure every estimator against the truth: built-in suite or your darks + a true scene",
        description="Benchmark CDS, UTR, reference-corrected UTR, the oracle and any trained model against the truth. "
        "Examples: hxrg bench --suite bench-v1 --out DIR;  hxrg bench --darks darks/ --scene truth.fits "
        "--geometry nirps-h4rg --out DIR. Writes report.md, metrics.json and PNG figures.",
    )
    source = bench.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", help="built-in suite: bench-v1, or bench-v1-quick (3 cases)")
    source.add_argument("--darks", help="your dark ramp (folder of reads, 3D or 4D cube); needs --scene")
    bench.add_argument("--scene", help="with --darks: true scene, expected electrons over the ramp (FITS)")
    bench.add_argument("--out", required=True, help="output folder")
    bench.add_argument("--model", action="append", default=[], metavar="PATH",
                       help="trained model to evaluate: a path or a shipped name such as 'default' (repeatable)")
    bench.add_argument("--seed", type=int, default=0, help="with --darks: seed of the Poisson accumulation")
    bench.add_argument("--gain", type=float, default=1.0, help="with --darks: electrons per unit of the darks")
    bench.add_argument("--rows", type=int, help="suite: rows of the strip (default 264)")
    bench.add_argument("--reads", type=int, help="suite: number of reads (default 100)")
    bench.add_argument("--overwrite", action="store_true", help="replace an earlier benchmark in that folder")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_geometry_arguments(bench)
    demo = sub.add_parser(
        "demo",
        help="the main job on a simulated exposure: every method against the truth",
        description="Simulate a NIRPS-like echelle exposure with known truth, build flux images with CDS, UTR, "
        "reference-corrected UTR, the shipped default model and the oracle, and write images, a comparison "
        "figure and a report.",
    )
    demo.add_argument("--model", default="default",
                      help="model to run besides the classical methods: a shipped name (default) or a path; "
                      "'none' for classical methods only")
    demo.add_argument("--out", default="hxrg-demo", help="output folder (default hxrg-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace an earlier demo in that folder")
    demo.add_argument("--full-frame", action="store_true", help="simulate the full 4096 x 4096 frame (minutes)")
    demo.add_argument("--rows", type=int, default=256, help="rows of the simulated strip (default 256)")
    demo.add_argument("--reads", type=int, default=100, help="number of reads (default 100)")
    demo.add_argument("--noise", default="h4rg-lab", help="noise preset (default h4rg-lab)")
    demo.add_argument("--seed", type=int, default=20261124, help="random seed")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    return parser


def _add_simulate_parser(sub) -> None:
    sim = sub.add_parser(
        "simulate",
        help="simulate dark ramps, scenes and science ramps with known truth",
        description="Simulate HxRG data in the formats real data come in. Example: hxrg simulate science "
        "--geometry nirps-h4rg --rows 256 --reads 100 --noise h4rg-lab --scene echelle --seed 7 -o OUTDIR "
        "writes OUTDIR/cube.fits (reads on NAXIS3) and OUTDIR/truth.fits (expected electrons over the ramp).",
    )
    sim.add_argument("kind", choices=("dark", "scene", "science"), help="dark ramp, noiseless scene, or both together")
    sim.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    sim.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    sim.add_argument("--geometry", default="nirps-h4rg", metavar="PRESET", help="geometry preset (default nirps-h4rg)")
    sim.add_argument("--rows", type=int, help="simulate a strip of this many rows of the array (default: all)")
    sim.add_argument("--cols", type=int, help="with --channels: columns of a custom array")
    sim.add_argument("--channels", type=int, help="custom geometry: number of output channels (needs --rows and --cols)")
    sim.add_argument("--no-butterfly", dest="butterfly", action="store_false", help="custom geometry: no reversed channels")
    sim.add_argument("--reads", type=int, default=100, help="number of reads (default 100)")
    sim.add_argument("--noise", default="h4rg-lab", help="noise preset: nirspec, h4rg-lab, white, none (default h4rg-lab)")
    sim.add_argument(
        "--set", dest="noise_set", action="append", default=[], metavar="LEVEL=VALUE",
        help="change one noise level, e.g. --set acn=0 --set dark_current=0.01 --set cosmic_ray_rate=5",
    )
    sim.add_argument("--scene", default="echelle", help="echelle, stars, flat, none, or a FITS image (default echelle)")
    sim.add_argument("--p99", type=float, default=30.0, help="echelle/FITS scene: 99th percentile in e- (default 30)")
    sim.add_argument("--flat-level", type=float, default=30.0, help="flat scene: electrons over the ramp")
    sim.add_argument("--mirror", action="store_true", help="mirror the scene's reversed channels as the reference code does")
    sim.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    sim.add_argument("--format", dest="layout", choices=("cube", "reads"), default="cube",
                     help="cube.fits (3D) or reads/read_NNN.fits (one file per read)")
    sim.add_argument("--dtype", choices=("float32", "uint16"), default="float32", help="output data type")
    sim.add_argument("--gain", type=float, default=1.0, help="electrons per output unit (default 1)")
    sim.add_argument("--no-poisson", dest="poisson", action="store_false", help="accumulate the expected charge exactly")
    sim.add_argument("--oracle", action="store_true", help="also write the ramp without its correlated noise")
    sim.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_model_parsers(sub) -> None:
    den = sub.add_parser(
        "denoise",
        help="flux image predicted by a trained model",
        description="Apply a trained model to a ramp, streamed by row strips. "
        "Example: hxrg denoise cube.fits --model runs/payeur -o flux.fits --geometry nirps-h4rg",
    )
    add_input_arguments(den, many=True)
    den.add_argument("--model", default="default",
                     help="model: a shipped name (default: the shipped 'default' model), a training run folder or "
                     "NAME.safetensors (with NAME.json)")
    den.add_argument("-o", "--output", required=True, help="output FITS file (a folder with several inputs)")
    den.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    den.add_argument("--strip-rows", type=int, default=64, help="rows read at a time (memory only)")
    den.add_argument("--batch-rows", type=int, default=16, help="rows per network call (memory only)")
    den.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    den.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: faster on AMX CPUs and GPUs")
    den.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_geometry_arguments(den)

    tr = sub.add_parser(
        "train",
        help="train a network on darks plus scenes",
        description="Train a model on samples built on the fly from dark ramps (files, or simulated) and scenes. "
        "Examples: hxrg train --recipe default --out runs/default (the shipped model, <= 1 h on 2 CPU cores); "
        "hxrg train --model payeur2022 --simulate-darks 2 --scene echelle --out runs/payeur",
    )
    tr.add_argument("--recipe", choices=("default",),
                    help="a complete recipe: 'default' simulates its training exposures and trains the "
                    "readout-set model that ships as 'default' (other options but --out, --epochs, "
                    "--steps-per-epoch, --examples, --workers, --seed and -q are ignored)")
    tr.add_argument("--examples", type=int, help="--recipe default: number of simulated exposures (default 64)")
    tr.add_argument("--workers", type=int, default=2, help="--recipe default: processes simulating exposures")
    tr.add_argument("--model", default="payeur2022", help="architecture (see `hxrg models`)")
    tr.add_argument("--model-set", action="append", default=[], metavar="KEY=VALUE",
                    help="change an architecture setting, e.g. --model-set gru_units=32 (small test runs)")
    tr.add_argument("--darks", nargs="+", default=[], help="dark ramps (folders of reads, 3D or 4D cubes)")
    tr.add_argument("--simulate-darks", type=int, default=0, metavar="N", help="simulate N dark strips instead")
    tr.add_argument("--noise", default="h4rg-lab", help="noise preset of simulated darks")
    tr.add_argument("--rows", type=int, default=136, help="rows of simulated dark strips (default 136)")
    tr.add_argument("--reads", type=int, default=100, help="reads of simulated darks (default 100)")
    tr.add_argument("--scene", nargs="+", default=["echelle"], help="scene kinds (echelle, stars, flat) or FITS files")
    tr.add_argument("--out", required=True, help="run folder (checkpoints, model, loss curve)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument("--epochs", type=int, help="default 50 (recipe: its own)")
    tr.add_argument("--steps-per-epoch", type=int, help="default 219 (recipe: its own)")
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--lr-decay", type=float, default=0.98)
    tr.add_argument("--val-samples", type=int, default=500)
    tr.add_argument("--seed", type=int, help="training seed, default 1 (bench-v1 seeds are refused)")
    tr.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_geometry_arguments(tr)

    sub.add_parser("models", help="list the architectures and shipped models with their parameter counts")


def _add_inspect_parser(sub) -> None:
    ins = sub.add_parser(
        "inspect",
        help="plot a read, a CDS image and the readout-stream power spectrum of a ramp",
        description="Write read.png, cds.png and power_spectrum.png for a ramp, to see whether its noise "
        "looks like HxRG noise.",
    )
    add_input_arguments(ins)
    ins.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the PNG files")
    ins.add_argument("--overwrite", action="store_true", help="replace PNGs that exist")
    add_geometry_arguments(ins)


def resolve_geometry(args: argparse.Namespace, shape: tuple[int, int], source: str):
    """Geometry from ``--geometry`` or ``--channels`` for reads of ``shape``."""
    from hxrg_denoiser.geometry import geometry_for_shape

    return geometry_for_shape(shape, **_geometry_args(args), source=source)


@command("fit")
def run_fit(args: argparse.Namespace) -> int:
    """Run ``hxrg fit``."""
    from hxrg_denoiser.fitting import FitOptions, fit_ramp
    from hxrg_denoiser.io.output import check_output_path, write_flux_image
    from hxrg_denoiser.io.ramps import open_ramp

    options = FitOptions(
        method=args.method,
        refcorr=args.refcorr,
        weighting=args.weighting,
        fowler_n=args.fowler,
        gain=args.gain,
        read_noise=args.read_noise,
        units=args.units,
        saturation=args.saturation,
        flag_non_finite=args.flag_non_finite,
        strip_rows=args.strip_rows,
        clean=args.clean,
    )
    if _batch_mode(args):
        from hxrg_denoiser.batch import fit_exposure

        return _run_batch(args, fit_exposure, options, _geometry_args(args), args.overwrite)
    args.input = args.input[0]
    check_output_path(args.output, overwrite=args.overwrite)
    start = time.perf_counter()
    with open_ramp(args.input, hdu=args.hdu, integration=args.integration) as ramp:
        geometry = resolve_geometry(args, (ramp.n_rows, ramp.n_cols), args.input)
        if args.split:
            from hxrg_denoiser.batch import cluster_client
            from hxrg_denoiser.fitting import fit_file_split

            with cluster_client(args.workers or 2, args.scheduler) as client:
                open_args = {"hdu": args.hdu, "integration": args.integration}
                image = fit_file_split(args.input, geometry, options, client, args.split, open_args)
        else:
            image = fit_ramp(ramp, geometry, options, progress=not args.quiet)
    write_flux_image(args.output, image, overwrite=args.overwrite)
    print(
        f"{args.output}: {image.meta['method']} flux of {ramp.n_reads} reads, {geometry.name} "
        f"{geometry.n_rows} x {geometry.n_cols}, read noise {image.meta['read_noise']:.2f} e-, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


@command("geometries")
def run_geometries(args: argparse.Namespace) -> int:
    """Run ``hxrg geometries``."""
    from hxrg_denoiser.geometry import PRESETS

    print(f"{'preset':<12} {'rows':>5} {'cols':>5} {'channels':>8} {'width':>5} {'butterfly':>9} {'frame s':>8}")
    for name, g in PRESETS.items():
        print(
            f"{name:<12} {g.n_rows:>5} {g.n_cols:>5} {g.n_channels:>8} {g.channel_width:>5} "
            f"{'yes' if g.butterfly else 'no':>9} {g.frame_time:>8.3f}"
        )
    return 0


def _simulation_geometry(args: argparse.Namespace):
    from hxrg_denoiser.geometry import ReadoutGeometry, preset

    if args.channels is not None:
        if args.rows is None or args.cols is None:
            raise ValueError("--channels needs --rows and --cols for a custom geometry")
        return ReadoutGeometry(
            f"custom-{args.rows}x{args.cols}-{args.channels}ch", args.rows, args.cols, args.channels,
            butterfly=args.butterfly,
        )
    return preset(args.geometry, n_rows=args.rows)


def _noise_model(args: argparse.Namespace):
    import dataclasses

    from hxrg_denoiser.simulate.noise import noise_preset

    model = noise_preset(args.noise)
    known = {f.name for f in dataclasses.fields(model)}
    for item in args.noise_set:
        if item.partition("=")[0] not in known:
            raise ValueError(f"--set {item!r}: expected LEVEL=VALUE with LEVEL one of {sorted(known)}")
    changes = {key: float(value) for key, value in _parse_settings(args.noise_set, "--set").items()}
    return model.replace(**changes), args.noise + "".join(f",{k}={v}" for k, v in changes.items())


@command("simulate")
def run_simulate(args: argparse.Namespace) -> int:
    """Run ``hxrg simulate``."""
    from pathlib import Path

    from hxrg_denoiser.simulate.products import SimulationRequest, write_simulation
    from hxrg_denoiser.simulate.scenes import SCENE_KINDS, Scene, load_scene, make_scene, mirror_channels, scale_scene

    geometry = _simulation_geometry(args)
    noise, noise_name = _noise_model(args)
    scene = None
    if args.kind != "dark":
        if args.scene in SCENE_KINDS:
            scene = make_scene(args.scene, geometry, seed=args.seed, p99=args.p99, flat_level=args.flat_level)
        elif Path(args.scene).suffix.lower() in (".fits", ".fit", ".fts"):
            scene = scale_scene(load_scene(args.scene, geometry), geometry, p99=args.p99)
        else:
            raise ValueError(f"--scene {args.scene!r}: expected one of {SCENE_KINDS} or a FITS file")
        if args.mirror:
            scene = Scene(mirror_channels(scene.image, geometry), scene.kind, [], scene.scale)
    request = SimulationRequest(
        kind=args.kind, geometry=geometry, n_reads=args.reads, noise=noise, noise_name=noise_name, scene=scene,
        seed=args.seed, layout=args.layout, dtype=args.dtype, gain=args.gain, poisson=args.poisson, oracle=args.oracle,
    )
    start = time.perf_counter()
    paths = write_simulation(request, args.output, overwrite=args.overwrite, progress=not args.quiet)
    listed = ", ".join(str(p) for key, p in paths.items() if key != "meta")
    print(f"{listed}: {args.kind} {geometry.name} {geometry.n_rows} x {geometry.n_cols}, {args.reads} reads, "
          f"noise {noise_name}, seed {args.seed}, {time.perf_counter() - start:.1f} s")
    return 0


@command("inspect")
def run_inspect(args: argparse.Namespace) -> int:
    """Run ``hxrg inspect``."""
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.plots import inspect_ramp

    with open_ramp(args.input, hdu=args.hdu, integration=args.integration) as ramp:
        geometry = resolve_geometry(args, (ramp.n_rows, ramp.n_cols), args.input)
        written = inspect_ramp(ramp, geometry, args.output, overwrite=args.overwrite)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


@command("denoise")
def run_denoise(args: argparse.Namespace) -> int:
    """Run ``hxrg denoise``."""
    from hxrg_denoiser.inference import denoise_ramp, model_geometry
    from hxrg_denoiser.io.output import check_output_path, write_flux_image
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.models.registry import load_model

    settings = {"strip_rows": args.strip_rows, "batch_rows": args.batch_rows, "device": args.device,
                "precision": args.precision}
    if _batch_mode(args):
        from hxrg_denoiser.batch import denoise_exposure

        load_model(args.model)  # fail early on a bad model file
        return _run_batch(args, denoise_exposure, str(args.model), _geometry_args(args), settings, args.overwrite)
    args.input = args.input[0]
    check_output_path(args.output, overwrite=args.overwrite)
    model, spec = load_model(args.model)
    start = time.perf_counter()
    with open_ramp(args.input, hdu=args.hdu, integration=args.integration) as ramp:
        geometry = model_geometry(spec, (ramp.n_rows, ramp.n_cols), args.input, **_geometry_args(args))
        if args.split:
            from hxrg_denoiser.batch import cluster_client
            from hxrg_denoiser.inference import denoise_file_split

            if args.hdu is not None or args.integration:
                raise ValueError("--split reads the default HDU and integration 0")
            with cluster_client(args.workers or 2, args.scheduler) as client:
                image = denoise_file_split(args.input, str(args.model), geometry, client, args.split, **settings)
        else:
            image = denoise_ramp(ramp, model, spec, geometry, progress=not args.quiet, **settings)
    write_flux_image(args.output, image, overwrite=args.overwrite)
    print(f"{args.output}: {spec.name} ({spec.architecture}) on {ramp.n_reads} reads, {geometry.name} "
          f"{geometry.n_rows} x {geometry.n_cols}, {time.perf_counter() - start:.1f} s")
    return 0


def _batch_mode(args: argparse.Namespace) -> bool:
    from pathlib import Path

    from hxrg_denoiser.batch import expand_inputs

    args.input = expand_inputs(args.input)
    several = len(args.input) > 1 or Path(args.output).is_dir()
    if several and args.split:
        raise ValueError("--split splits one exposure; give a single input")
    if several and (args.hdu is not None or args.integration):
        raise ValueError("--hdu and --integration apply to a single input")
    return several


def _geometry_args(args: argparse.Namespace) -> dict:
    return {"name": args.geometry, "n_channels": args.channels, "butterfly": args.butterfly}


def _run_batch(args: argparse.Namespace, task, *task_args) -> int:
    from hxrg_denoiser.batch import cluster_client, plan_outputs, run_exposures, summary

    pairs = plan_outputs(args.input, args.output)
    start = time.perf_counter()
    with cluster_client(args.workers or 2, args.scheduler) as client:
        results = run_exposures(pairs, task, *task_args, client=client, overwrite=args.overwrite,
                                progress=not args.quiet)
    print(summary(results) + f"; {time.perf_counter() - start:.1f} s in all")
    return 1 if any(r.status == "failed" for r in results) else 0


def _parse_settings(items: list[str], option: str) -> dict:
    settings = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            settings[key] = int(value) if value.lstrip("+-").isdigit() else float(value)
        except ValueError:
            raise ValueError(f"{option} {item!r}: expected KEY=VALUE with a number") from None
    return settings


@command("train")
def run_train(args: argparse.Namespace) -> int:
    """Run ``hxrg train``."""
    import dataclasses
    from pathlib import Path

    from hxrg_denoiser.geometry import preset
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.models.registry import ARCHITECTURES, ModelSpec
    from hxrg_denoiser.simulate.scenes import load_scene, scale_scene
    from hxrg_denoiser.training.data import RibbonSampler
    from hxrg_denoiser.training.recipes import simulated_darks, training_scenes
    from hxrg_denoiser.training.trainer import TrainConfig, train

    if args.recipe == "default":
        return _train_default_recipe(args)
    if args.model not in ARCHITECTURES:
        raise ValueError(f"--model {args.model!r}: unknown architecture; choose one of {sorted(ARCHITECTURES)}")
    args.epochs = 50 if args.epochs is None else args.epochs
    args.steps_per_epoch = 219 if args.steps_per_epoch is None else args.steps_per_epoch
    args.seed = 1 if args.seed is None else args.seed
    if bool(args.darks) == bool(args.simulate_darks):
        raise ValueError("give either --darks PATH ... or --simulate-darks N")
    if args.darks:
        darks = [open_ramp(path) for path in args.darks]
        geometry = resolve_geometry(args, (darks[0].n_rows, darks[0].n_cols), args.darks[0])
    else:
        geometry = preset(args.geometry or "nirps-h4rg", n_rows=args.rows)
        darks = simulated_darks(geometry, args.simulate_darks, args.reads, args.noise, args.seed)
    kinds = [s for s in args.scene if not s.lower().endswith((".fits", ".fit"))]
    scenes = training_scenes(geometry, kinds, args.seed) if kinds else []
    scenes += [scale_scene(load_scene(path, geometry), geometry).image for path in args.scene if path not in kinds]
    _, config_class = ARCHITECTURES[args.model]
    model_config = dataclasses.replace(
        config_class(n_channels=geometry.n_channels, positions=geometry.channel_width,
                     n_reference=2 * geometry.ref_border), **_parse_settings(args.model_set, "--model-set"))
    spec = ModelSpec(
        architecture=args.model, config=model_config.to_dict(), geometry=geometry.to_dict(),
        n_reads=model_config.n_reads, label_reads=darks[0].n_reads, name=Path(args.out).name or args.model,
        training={"darks": [d.path for d in darks], "scenes": args.scene, "noise": args.noise, "seed": args.seed},
    )
    sampler = RibbonSampler(darks, scenes, geometry, n_reads=spec.n_reads, refcorr=spec.refcorr,
                            input_scale=spec.input_scale, label_scale=spec.label_scale)
    config = TrainConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                         learning_rate=args.lr, lr_decay=args.lr_decay, validation_samples=args.val_samples,
                         seed=args.seed, device=args.device)
    try:
        state = train(sampler, spec, config, args.out, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"hxrg train: interrupted; checkpoint saved, continue with --resume --out {args.out}", file=sys.stderr)
        return 130
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if state.get("world_size", 1) > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0
    for record in state["history"]:
        print(f"epoch {record['epoch'] + 1}: train loss {record['train_loss']:.4g}, "
              f"validation loss {record['validation_loss']:.4g}")
    print(f"wrote {args.out}/model.safetensors, model.json, loss.png")
    return 0


def _train_default_recipe(args: argparse.Namespace) -> int:
    """``hxrg train --recipe default``."""
    import dataclasses

    from hxrg_denoiser.training.default_recipe import default_train_config, run_default_recipe

    changes = {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "seed": args.seed}
    config = dataclasses.replace(default_train_config(), **{k: v for k, v in changes.items() if v is not None})
    try:
        weights = run_default_recipe(args.out, workers=args.workers, examples=args.examples, config=config,
                                     progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"hxrg train: interrupted; run the same command again to continue in {args.out}", file=sys.stderr)
        return 130
    print(f"wrote {weights}, {weights.with_suffix('.json')}, loss.png")
    return 0


@command("models")
def run_models(args: argparse.Namespace) -> int:
    """Run ``hxrg models``."""
    from hxrg_denoiser.models.registry import catalogue

    print(f"{'name':<24} {'kind':<28} {'parameters':>12}")
    for name, kind, count in catalogue():
        print(f"{name:<24} {kind:<28} {count:>12,}")
    return 0


@command("bench")
def run_bench_command(args: argparse.Namespace) -> int:
    """Run ``hxrg bench``."""
    from hxrg_denoiser.bench.command import run_bench, suite_cases, user_case
    from hxrg_denoiser.models.registry import model_method

    if args.darks is not None:
        if args.scene is None:
            raise ValueError("--darks needs --scene TRUTH.fits")
        cases = user_case(args.darks, args.scene, lambda shape, src: resolve_geometry(args, shape, src),
                          seed=args.seed, gain=args.gain)
        suite = "user"
    else:
        cases = suite_cases(args.suite, n_rows=args.rows, n_reads=args.reads)
        suite = args.suite
    models = [model_method(path) for path in args.model]
    command_line = "hxrg " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("hxrg") else "hxrg bench"
    results = run_bench(cases, args.out, suite=suite, models=models, command=command_line, overwrite=args.overwrite,
                        progress=not args.quiet)
    for result in results:
        sigma = {m: v["pixel_robust_sigma"] for m, v in result.metrics.items()}
        print(f"{result.name}: " + ", ".join(f"{m} {s:.3f}" for m, s in sigma.items()))
    print(f"wrote {args.out}/report.md, metrics.json and figures")
    return 0


@command("demo")
def run_demo_command(args: argparse.Namespace) -> int:
    """Run ``hxrg demo``."""
    from hxrg_denoiser.demo import run_demo

    result = run_demo(
        args.out, rows=None if args.full_frame else args.rows, n_reads=args.reads, noise=args.noise, seed=args.seed,
        model=None if args.model == "none" else args.model, overwrite=args.overwrite, progress=not args.quiet,
    )
    print(result.table())
    print(f"\nwrote {result.outdir}/report.md, comparison.png, images/*.fits in {result.seconds:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hxrg`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (HxrgError, ValueError) as err:
        print(f"hxrg {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hxrg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
