"""Options shared by the ``hxrg`` sub-commands, and the checks of their values.

Every numeric option goes through a type below, so a bad value (``--split 0``,
``--gain inf``, ``--saturation nan``) stops argparse with one line naming the
option, before any work. Options that only apply with others are refused when
they would be ignored (:func:`refuse_unless`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Callable

from hxrg_denoiser.classical.ipc import IpcKernel
from hxrg_denoiser.errors import RampInputError, UsageError
from hxrg_denoiser.io.ipc import read_ipc_kernel

log = logging.getLogger("hxrg_denoiser")

__all__ = [
    "positive_int",
    "nonnegative_int",
    "positive_float",
    "nonnegative_float",
    "finite_float",
    "hdu",
    "common_options",
    "add_output",
    "add_geometry_arguments",
    "add_jump_arguments",
    "add_product_arguments",
    "product_units",
    "level_or_map",
    "positive_or_map",
    "add_pixel_map_arguments",
    "jump_options",
    "add_input_arguments",
    "geometry_args",
    "resolve_geometry",
    "parse_settings",
    "refuse_unless",
    "is_batch",
    "read_paths",
    "INPUT_OPTIONS",
    "integration_cards",
    "add_read_arguments",
    "read_options",
    "read_index_or_auto",
    "ipc_kernel",
]

# Options whose values are files or folders a command reads (a number given to a map option is not one).
INPUT_OPTIONS = ("input", "dark", "linearity", "ipc", "darks", "darks_train", "calibration", "gain", "saturation", "read_noise", "bad_pixels",
                 "scene", "traces")


def _number(text: str, kind: type, test: Callable[[float], bool], wanted: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if not (math.isfinite(value) and test(value)):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def integration_choice(text: str) -> int | str:
    """An integration index (an integer >= 0) or ``all``."""
    return "all" if text.strip().lower() == "all" else nonnegative_int(text)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(text, float, lambda v: v > 0, "a finite number > 0")


def sigmas_or_none(text: str) -> float | str:
    """A finite number > 0, or ``none``."""
    return "none" if text.strip().lower() == "none" else positive_float(text)


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return _number(text, float, lambda v: v >= 0, "a finite number >= 0")


def _number_or_map(text: str, number: Callable[[str], float]) -> float | str:
    """``number(text)`` when ``text`` reads as a number, else ``text`` as the path of a FITS map (read and checked
    when the data's shape is known)."""
    try:
        float(text)
    except ValueError:
        return text
    return number(text)


def level_or_map(text: str) -> float | str:
    """A finite number >= 0, or the path of a FITS map of it per pixel (saturation)."""
    return _number_or_map(text, nonnegative_float)


def positive_or_map(text: str) -> float | str:
    """A finite number > 0, or the path of a FITS map of it per pixel (gain, read noise)."""
    return _number_or_map(text, positive_float)


def add_pixel_map_arguments(parser: argparse.ArgumentParser, *, scope: str = "") -> None:
    """``--gain`` and ``--saturation``: one value or a FITS map per pixel (``scope`` starts their help)."""
    parser.add_argument("--gain", type=positive_or_map, metavar="GAIN|FILE",
                        help=f"{scope}electrons per ADU, or a FITS map of it per pixel; BUNIT is then e- (default: "
                        "values as they are, e- if the input's BUNIT says electrons, else DN)")
    parser.add_argument("--saturation", type=level_or_map, metavar="LEVEL|FILE",
                        help=f"{scope}input level (ADU) at and above which a read is saturated, or a FITS map of "
                        "it per pixel (the data's shape); later reads are not used (default: no saturation check)")


def read_index_or_auto(text: str) -> int | str:
    """A read index (>= 0) or ``auto``."""
    if text == "auto":
        return text
    return _number(text, int, lambda v: v >= 0, "a read index >= 0 or 'auto'")


def add_read_arguments(parser: argparse.ArgumentParser, *, scope: str = "", default_first: str | None = "0") -> None:
    """``--dark``, ``--linearity``, ``--first-read`` and ``--last-read``: what is subtracted from the reads, how
    they are corrected, and which are used."""
    parser.add_argument("--dark", metavar="FILE",
                        help=f"{scope}dark ramp (hxrg superdark, a JWST DARK reference file, a cube or folder of "
                        "reads) subtracted read by read, or a 2D dark-rate image (input units per second): dark "
                        "current, hot pixels and the start transient leave the slopes (default: none)")
    parser.add_argument("--linearity", metavar="FILE",
                        help=f"{scope}non-linearity correction applied to the raw reads before the dark: a JWST "
                        "LINEARITY reference file (COEFFS, DQ) or a FITS cube of polynomial coefficients c0, c1, ... "
                        "per pixel for the signal in input units (default: none)")
    parser.add_argument("--ipc", metavar="ALPHA|FILE",
                        help=f"{scope}the detector's interpixel capacitance, which VAR_POISSON and ERR account for: "
                        "the fraction of a pixel's charge each nearest neighbour reports (e.g. 0.015), or a FITS "
                        "kernel (forward, or a JWST IPC reference file's deconvolution kernel) (default: none)")
    parser.add_argument("--first-read", type=read_index_or_auto, default=None if default_first != "0" else 0,
                        metavar="N|auto",
                        help=f"{scope}first read used, from 0; auto: the first after the start transient (reset "
                        "anomaly) has settled on the dark pixels; SCI stays the flux of the whole ramp "
                        f"(default {default_first})")
    parser.add_argument("--last-read", type=positive_int, metavar="N",
                        help=f"{scope}last read used, from 0 (default: the last)")


def read_options(args: argparse.Namespace) -> dict:
    """The :class:`~hxrg_denoiser.fitting.FitOptions` fields of :func:`add_read_arguments`."""
    return {"dark": args.dark, "linearity": args.linearity, "ipc": ipc_kernel(args.ipc), "first_read": args.first_read,
            "last_read": args.last_read}


def ipc_kernel(text: str | None) -> IpcKernel | None:
    """``--ipc``'s kernel: a coupling to each nearest neighbour, or a kernel file (None: not given).

    Raises
    ------
    UsageError, RampInputError
        One line naming ``--ipc`` (and the file): a coupling out of range, a file that holds no IPC kernel.
    """
    if text is None:
        return None
    try:
        alpha = float(text)
    except ValueError:
        values, source = read_ipc_kernel(text)
        try:
            return IpcKernel.from_array(values, source, label=f"--ipc {text}")
        except UsageError as err:
            raise RampInputError(str(err)) from None
    return IpcKernel.coupling(alpha)


def finite_float(text: str) -> float:
    """Any finite number."""
    return _number(text, float, lambda v: True, "a finite number")


def hdu(text: str) -> int | str:
    """An HDU index (digits) or name."""
    return int(text) if text.isdigit() else text


def common_options() -> argparse.ArgumentParser:
    """``-v`` and ``-q``, accepted before or after the sub-command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log what is being done, Dask's logs included (default: off)")
    parent.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars (default: shown)")
    return parent


def add_output(parser: argparse.ArgumentParser, help: str, *, required: bool = True, default: str | None = None,
               metavar: str = "PATH") -> None:
    """``-o/--out/--output``, the same on every command."""
    parser.add_argument("-o", "--out", "--output", dest="output", required=required, default=default,
                        metavar=metavar, help=help)


def add_jump_arguments(parser: argparse.ArgumentParser) -> None:
    """Cosmic-ray jump detection of the up-the-ramp fit."""
    group = parser.add_argument_group("cosmic-ray jumps (3 reads or more)")
    group.add_argument("--jump-threshold", type=positive_float, metavar="SIGMA",
                       help="read differences this many sigmas (read noise + Poisson) from the pixel's flux are "
                       "jumps: flagged JUMP_DET, the slope fitted on the segments between them (CDS and Fowler: "
                       "the pixel left out, NaN and DO_NOT_USE) (default 5)")
    group.add_argument("--no-jumps", dest="jumps", action="store_false",
                       help="no jump detection (default: detect)")
    group.add_argument("--jump-neighbours", action="store_true",
                       help="also flag the same read difference of the 4 neighbours of every jump (default: off)")
    group.add_argument("--jump-cluster-threshold", type=sigmas_or_none, metavar="SIGMA|none",
                       help="flag each of the 8 neighbours of a jump whose same read difference exceeds its flux "
                       "by this many sigmas (the charge a cosmic ray leaves beside its centre; 'none': no such "
                       "test; default 2)")
    group.add_argument("--no-jump-step", dest="jump_step", action="store_false",
                       help="skip the test for one step in each pixel's ramp using all its reads, which finds "
                       "jumps half the size of the two-point test's at 6e-5 false flags per pixel of Gaussian noise (default: test)")


def jump_options(args: argparse.Namespace) -> dict:
    """``jump_threshold``, ``jump_neighbours`` and ``jump_cluster_threshold`` of
    :class:`~hxrg_denoiser.fitting.FitOptions` from the options."""
    from hxrg_denoiser.classical.jumps import CLUSTER_THRESHOLD, DEFAULT_THRESHOLD

    refuse_unless(args, "jump_threshold", args.jumps, "--jump-threshold and --no-jumps: give one of them")
    refuse_unless(args, "jump_neighbours", args.jumps, "--jump-neighbours and --no-jumps: give one of them")
    refuse_unless(args, "jump_cluster_threshold", args.jumps, "--jump-cluster-threshold and --no-jumps: give one of them")
    threshold = args.jump_threshold or DEFAULT_THRESHOLD
    cluster = CLUSTER_THRESHOLD if args.jump_cluster_threshold is None else args.jump_cluster_threshold
    return {"jump_threshold": threshold if args.jumps else None, "jump_neighbours": args.jump_neighbours,
            "jump_cluster_threshold": None if cluster == "none" else cluster, "jump_step": args.jump_step}


def add_product_arguments(parser: argparse.ArgumentParser) -> None:
    """What the output file holds and in which units."""
    parser.add_argument("--units", choices=("e-", "e-/s"),
                        help="over the ramp (slope per read x reads) or per second (slope per read / time between "
                        "reads); in DN when no gain is known (default e-; e-/s with --product jwst)")
    parser.add_argument("--product", choices=("hxrg", "jwst", "nirps"), default="hxrg",
                        help="hxrg: SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE, READS_USED, INTERCEPT; jwst: a rate file "
                        "that JWST's ImageModel opens (per second); nirps: the NIRPS/SPIRou ramp layout, slope, "
                        "intercept, slope error and number of reads in extensions 1-4 (default hxrg)")


def product_units(args: argparse.Namespace) -> str:
    """The units the options ask for: ``--units``, else per second for a JWST rate file, else over the ramp."""
    if args.product == "jwst" and args.units == "e-":
        raise UsageError("--product jwst is a rate file: use --units e-/s (or leave --units out)")
    return args.units or ("e-/s" if args.product == "jwst" else "e-")


def add_geometry_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that say how the input is read out."""
    group = parser.add_argument_group("readout geometry")
    group.add_argument(
        "--geometry",
        metavar="PRESET",
        help="geometry preset: nirps-h4rg, h2rg-32 or jwst-h2rg (a strip of fewer rows is accepted); "
        "`hxrg geometries` lists them (default: the preset matching the data, or the model's)",
    )
    group.add_argument(
        "--channels",
        type=positive_int,
        metavar="N",
        help="number of output channels, for arrays that match no preset "
        "(the array size comes from the input, 4 reference pixels per edge; default: from --geometry)",
    )
    group.add_argument(
        "--no-butterfly",
        dest="butterfly",
        action="store_false",
        help="with --channels: all channels read left to right (default: odd channels reversed)",
    )


def add_input_arguments(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """Where the ramp is (or the ramps are), and for several, how they run on Dask."""
    if many:
        parser.add_argument(
            "input", nargs="+",
            help="folders of per-read FITS files, 3D FITS cubes or JWST-style 4D cubes (quoted globs allowed); "
            "with several, or with -o ending in /, -o is a folder that gets one output per input",
        )
        group = parser.add_argument_group("many exposures (Dask)")
        group.add_argument("--workers", type=positive_int,
                           help="local Dask cluster of N worker processes (default 2 with several inputs or --split)")
        group.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                           "(default: a local cluster)")
        group.add_argument("--split", type=positive_int, metavar="PARTS",
                           help="one large exposure: split its rows into PARTS tasks across the workers (default: off)")
    else:
        parser.add_argument("input", help="folder of per-read FITS files, 3D FITS cube, or JWST-style 4D cube")
    parser.add_argument("--hdu", type=hdu, help="HDU name or index holding the data (default: SCI or first cube)")
    parser.add_argument("--integration", type=integration_choice, default=None,
                        help="integration of a 4D cube, from 0 (default 0, with a warning where the cube has more); "
                        "fit: `all` fits each and combines them into one rate, as JWST does (`strun hxrg_ramp_fit` "
                        "also writes the rateints)")


def integration_cards(ramp, args: argparse.Namespace) -> dict:
    """The header card of the integration of a 4D cube that was read, with a warning where the user did not
    choose it among several; no card for a 3D cube."""
    if ramp.n_integrations <= 1:
        return {}
    if args.integration is None:
        log.warning("%s: integration 0 of %d fitted (--integration N picks another; strun hxrg_ramp_fit fits "
                    "them all into a rate and a rateints)", ramp.path, ramp.n_integrations)
    return {"INTEGRTN": (ramp.integration, f"integration fitted (from 0) of the input's {ramp.n_integrations}")}


def geometry_args(args: argparse.Namespace) -> dict:
    """The geometry options as keyword arguments of :func:`~hxrg_denoiser.geometry.geometry_for_shape`."""
    refuse_unless(args, "butterfly", args.channels is not None, "--no-butterfly applies with --channels", skip=True)
    return {"name": args.geometry, "n_channels": args.channels, "butterfly": args.butterfly}


def resolve_geometry(args: argparse.Namespace, shape: tuple[int, int], source: str, header=None):
    """Geometry from ``--geometry`` or ``--channels`` for reads of ``shape``, else from the preset the file's
    ``header`` names (``GEOMETRY``), else the one preset of that shape."""
    from hxrg_denoiser.geometry import geometry_for_shape

    recorded = header.get("GEOMETRY") if header is not None else None
    return geometry_for_shape(shape, **geometry_args(args), source=source,
                              recorded=recorded if isinstance(recorded, str) else None)


def parse_settings(items: list[str], option: str) -> dict:
    """``KEY=NUMBER`` items as a dict (ints stay ints); one-line error naming ``option`` otherwise."""
    settings = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            settings[key] = int(value) if value.lstrip("+-").isdigit() else float(value)
        except ValueError:
            raise UsageError(f"{option} {item!r}: expected KEY=VALUE with a number") from None
        if not math.isfinite(settings[key]):
            raise UsageError(f"{option} {item!r}: the value must be finite")
    return settings


def refuse_unless(args: argparse.Namespace, name: str, condition: bool, message: str, *, skip: bool = False) -> None:
    """Refuse option ``name`` when given (not None / not its store_false default) and ``condition`` is false."""
    value = getattr(args, name, None)
    given = (value is False) if skip else value not in (None, False, [])
    if given and not condition:
        raise UsageError(message)


def is_batch(args: argparse.Namespace) -> bool:
    """Several inputs, or ``-o`` ending with ``/``: one output per input in the ``-o`` folder.

    Expands quoted globs in ``args.input`` in place.
    """
    from hxrg_denoiser.batch import expand_inputs

    args.input = expand_inputs(args.input)
    several = len(args.input) > 1 or args.output.endswith(("/", os.sep))
    if len(args.input) > 1 and not args.output.endswith(("/", os.sep)) and \
            os.path.splitext(args.output)[1].lower() in (".fits", ".fit", ".fts") and not os.path.isdir(args.output):
        raise UsageError(f"-o {args.output}: {len(args.input)} inputs get one output each, in a folder; give a "
                         "folder (ending with /), or one input")
    if several and args.split:
        raise UsageError("--split splits one exposure; give a single input and an output file")
    if several and (args.hdu is not None or args.integration):
        raise UsageError("--hdu and --integration apply to a single input")
    if args.workers is not None and args.scheduler is not None:
        raise UsageError("give --workers or --scheduler, not both")
    uses_dask = (several and len(args.input) > 1) or bool(args.split)
    refuse_unless(args, "workers", uses_dask, "--workers applies to several inputs or --split")
    refuse_unless(args, "scheduler", uses_dask, "--scheduler applies to several inputs or --split")
    return several


def read_paths(args: argparse.Namespace, *, models=()) -> list[str]:
    """Every file and folder the command reads: the values of :data:`INPUT_OPTIONS` that exist, and the files
    of each model in ``models`` (names or paths). No output may be one of them or lie inside one, with or
    without ``--overwrite``."""
    from hxrg_denoiser.batch import expand_inputs

    paths: list[str] = []
    for name in INPUT_OPTIONS:
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                paths += [p for p in expand_inputs([item], strict=False) if os.path.lexists(p)]
    for model in models:
        if model is not None:
            from hxrg_denoiser.models.registry import model_files  # torch: only for commands with a model

            paths += [str(p) for p in model_files(model)]
    return paths
