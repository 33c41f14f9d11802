"""``hxrg simulate`` and ``hxrg inspect``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hxrg_denoiser.cli.options import (
    add_geometry_arguments,
    add_input_arguments,
    add_output,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    read_paths,
    refuse_unless,
    resolve_geometry,
)
from hxrg_denoiser.errors import HxrgError, UsageError

__all__ = ["register"]


def register(sub, common: argparse.ArgumentParser) -> dict:
    """Add ``simulate`` and ``inspect``; returns their runners."""
    sim = sub.add_parser(
        "simulate", parents=[common],
        help="simulate dark ramps, scenes and science ramps with known truth",
        description="Simulate HxRG data in the formats real data come in. Example: hxrg simulate science "
        "--geometry nirps-h4rg --rows 256 --reads 100 --noise h4rg-lab --scene echelle --seed 7 -o OUTDIR "
        "writes OUTDIR/cube.fits (reads on NAXIS3) and OUTDIR/truth.fits (expected electrons over the ramp).",
    )
    sim.add_argument("kind", choices=("dark", "scene", "science"), help="dark ramp, noiseless scene, or both together")
    add_output(sim, "output folder (created if needed)", metavar="OUTDIR")
    sim.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: refuse)")
    sim.add_argument("--geometry", default="nirps-h4rg", metavar="PRESET", help="geometry preset (default nirps-h4rg)")
    sim.add_argument("--rows", type=positive_int, help="simulate a strip of this many rows (default: all rows)")
    sim.add_argument("--cols", type=positive_int, help="with --channels: columns of a custom array (default: none)")
    sim.add_argument("--channels", type=positive_int,
                     help="custom geometry: number of output channels (needs --rows and --cols; default: the preset's)")
    sim.add_argument("--no-butterfly", dest="butterfly", action="store_false",
                     help="custom geometry: no reversed channels (default: odd channels reversed)")
    sim.add_argument("--reads", type=positive_int, default=100, help="number of reads (default 100)")
    sim.add_argument("--noise", default="h4rg-lab",
                     help="noise preset: nirspec, h4rg-lab, white, none (default h4rg-lab)")
    sim.add_argument(
        "--set", dest="noise_set", action="append", default=[], metavar="LEVEL=VALUE",
        help="change one noise level, e.g. --set acn=0 --set dark_current=0.01 --set cosmic_ray_rate=5 "
        "(default: the preset's levels)",
    )
    sim.add_argument("--scene", default="echelle",
                     help="echelle, stars, flat, none; sky-gradient, sky-field, echelle-gradient, stars-moffat, "
                     "stars-crowded, galaxies, nebula, long-slit, imaging, imaging-crowded (any geometry; --flat-level "
                     "sets the sky); or a FITS image (default echelle)")
    sim.add_argument("--p99", type=positive_float, default=30.0,
                     help="echelle/FITS scene: 99th percentile in e- (default 30)")
    sim.add_argument("--flat-level", type=nonnegative_float, default=30.0,
                     help="flat scene: electrons over the ramp (default 30)")
    sim.add_argument("--mirror", action="store_true",
                     help="mirror the scene's reversed channels as the reference code does (default: off)")
    sim.add_argument("--seed", type=nonnegative_int, default=0, help="random seed; same seed, same files (default 0)")
    sim.add_argument("--format", dest="layout", choices=("cube", "reads"), default="cube",
                     help="cube.fits (3D) or reads/read_NNN.fits (one file per read) (default cube)")
    sim.add_argument("--dtype", choices=("float32", "uint16"), default="float32", help="output data type (default float32)")
    sim.add_argument("--gain", type=positive_float, default=1.0, help="electrons per output unit (default 1)")
    sim.add_argument("--no-poisson", dest="poisson", action="store_false",
                     help="accumulate the expected charge exactly (default: Poisson draws)")
    sim.add_argument("--oracle", action="store_true",
                     help="also write the ramp without its correlated noise (default: off)")

    ins = sub.add_parser(
        "inspect", parents=[common],
        help="plot a read, a CDS image and the readout-stream power spectrum of a ramp",
        description="Write read.png, cds.png and power_spectrum.png for a ramp, to see whether its noise "
        "looks like HxRG noise.",
    )
    add_input_arguments(ins)
    add_output(ins, "folder for the PNG files (created if needed)", metavar="OUTDIR")
    ins.add_argument("--overwrite", action="store_true", help="replace PNGs that exist (default: refuse)")
    add_geometry_arguments(ins)
    return {"simulate": run_simulate, "inspect": run_inspect}


def _simulation_geometry(args: argparse.Namespace):
    from hxrg_denoiser.geometry import ReadoutGeometry, preset

    refuse_unless(args, "cols", args.channels is not None, "--cols applies with --channels (a custom geometry)")
    refuse_unless(args, "butterfly", args.channels is not None, "--no-butterfly applies with --channels", skip=True)
    if args.channels is not None:
        if args.rows is None or args.cols is None:
            raise UsageError("--channels needs --rows and --cols for a custom geometry")
        return ReadoutGeometry(
            f"custom-{args.rows}x{args.cols}-{args.channels}ch", args.rows, args.cols, args.channels,
            butterfly=args.butterfly,
        )
    geometry = preset(args.geometry)
    if args.rows is not None and args.rows > geometry.n_rows:
        raise UsageError(f"--rows {args.rows}: preset {geometry.name} has {geometry.n_rows} rows; a strip has at most "
                         "that many (--channels, --rows and --cols make a custom array)")
    return geometry if args.rows is None else geometry.with_rows(args.rows)


def _noise_model(args: argparse.Namespace):
    import dataclasses

    from hxrg_denoiser.cli.options import parse_settings
    from hxrg_denoiser.simulate.noise import noise_preset

    model = noise_preset(args.noise)
    known = {f.name for f in dataclasses.fields(model)}
    for item in args.noise_set:
        if item.partition("=")[0] not in known:
            raise UsageError(f"--set {item!r}: expected LEVEL=VALUE with LEVEL one of {sorted(known)}")
    changes = {key: float(value) for key, value in parse_settings(args.noise_set, "--set").items()}
    for key, value in changes.items():
        if value < 0:
            raise UsageError(f"--set {key}={value}: noise levels must be >= 0")
    return model.replace(**changes), args.noise + "".join(f",{k}={v}" for k, v in changes.items())


def _scene(args: argparse.Namespace, geometry):
    from hxrg_denoiser.simulate.scenes import SCENE_KINDS, Scene, load_scene, make_scene, mirror_channels, scale_scene

    if args.scene in SCENE_KINDS:
        scene = make_scene(args.scene, geometry, seed=args.seed, p99=args.p99, flat_level=args.flat_level)
    elif Path(args.scene).suffix.lower() in (".fits", ".fit", ".fts"):
        try:
            scene = scale_scene(load_scene(args.scene, geometry), geometry, p99=args.p99)
        except HxrgError as err:
            message = str(err)
            raise type(err)(message if message.startswith(args.scene) else f"{args.scene}: {message}") from None
    else:
        raise UsageError(f"--scene {args.scene!r}: expected one of {SCENE_KINDS} or a FITS file")
    if args.mirror:
        scene = Scene(mirror_channels(scene.image, geometry), scene.kind, [], scene.scale)
    return scene


def run_simulate(args: argparse.Namespace) -> int:
    """Run ``hxrg simulate``."""
    from hxrg_denoiser.simulate.products import SimulationRequest, write_simulation

    geometry = _simulation_geometry(args)
    noise, noise_name = _noise_model(args)
    refuse_unless(args, "mirror", args.kind != "dark", "--mirror applies to a scene (kind scene or science)")
    scene = None if args.kind == "dark" else _scene(args, geometry)
    request = SimulationRequest(
        kind=args.kind, geometry=geometry, n_reads=args.reads, noise=noise, noise_name=noise_name, scene=scene,
        seed=args.seed, layout=args.layout, dtype=args.dtype, gain=args.gain, poisson=args.poisson, oracle=args.oracle,
    )
    start = time.perf_counter()
    paths = write_simulation(request, args.output, overwrite=args.overwrite, progress=not args.quiet,
                             inputs=tuple(read_paths(args)))
    listed = ", ".join(str(p) for key, p in paths.items() if key != "meta")
    print(f"{listed}: {args.kind} {geometry.name} {geometry.n_rows} x {geometry.n_cols}, {args.reads} reads, "
          f"noise {noise_name}, seed {args.seed}, {time.perf_counter() - start:.1f} s")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    """Run ``hxrg inspect``."""
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.plots import inspect_ramp

    if args.integration == "all":
        raise UsageError("--integration all: inspect looks at one integration (--integration N)")
    with open_ramp(args.input, hdu=args.hdu, integration=args.integration or 0) as ramp:
        geometry = resolve_geometry(args, (ramp.n_rows, ramp.n_cols), args.input, ramp.header)
        written = inspect_ramp(ramp, geometry, args.output, overwrite=args.overwrite)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
