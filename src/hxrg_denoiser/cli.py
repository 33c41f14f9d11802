"""The ``hxrg`` command-line tool: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import logging
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


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that say where the ramp is."""
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
    add_input_arguments(fit)
    fit.add_argument("-o", "--output", required=True, help="output FITS file")
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

    return parser


def resolve_geometry(args: argparse.Namespace, shape: tuple[int, int], source: str):
    """Geometry from ``--geometry`` or ``--channels`` for reads of ``shape``."""
    from hxrg_denoiser.geometry import geometry_for_shape

    return geometry_for_shape(
        shape, name=args.geometry, n_channels=args.channels, butterfly=args.butterfly, source=source
    )


@command("fit")
def run_fit(args: argparse.Namespace) -> int:
    """Run ``hxrg fit``."""
    from hxrg_denoiser.fitting import FitOptions, fit_ramp
    from hxrg_denoiser.io.output import check_output_path, write_flux_image
    from hxrg_denoiser.io.ramps import open_ramp

    check_output_path(args.output, overwrite=args.overwrite)
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
    )
    start = time.perf_counter()
    with open_ramp(args.input, hdu=args.hdu, integration=args.integration) as ramp:
        geometry = resolve_geometry(args, (ramp.n_rows, ramp.n_cols), args.input)
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
