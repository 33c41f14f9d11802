"""``hxrg fit`` and ``hxrg geometries``."""

from __future__ import annotations

import argparse
import os
import time

from hxrg_denoiser.cli.options import (
    add_geometry_arguments,
    add_input_arguments,
    add_jump_arguments,
    add_output,
    add_pixel_map_arguments,
    add_product_arguments,
    add_read_arguments,
    geometry_args,
    integration_cards,
    is_batch,
    jump_options,
    positive_float,
    positive_int,
    positive_or_map,
    product_units,
    read_options,
    read_paths,
    refuse_unless,
    resolve_geometry,
)
from hxrg_denoiser.errors import UsageError

__all__ = ["register"]


def register(sub, common: argparse.ArgumentParser) -> dict:
    """Add ``fit`` and ``geometries`` to the sub-parsers; returns their runners."""
    fit = sub.add_parser(
        "fit", parents=[common],
        help="flux image by CDS, Fowler or up-the-ramp fitting",
        description="Build a flux image (SCI, ERR, DQ extensions) from a ramp with a classical estimator. "
        "Example: hxrg fit cube.fits -o out.fits --method utr --geometry nirps-h4rg",
    )
    add_input_arguments(fit, many=True)
    add_output(fit, "output FITS file; a folder (created if needed) with several inputs or when it ends with /")
    fit.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: refuse)")
    fit.add_argument("--method", choices=("utr", "cds", "fowler"), default="utr", help="flux estimator (default utr)")
    fit.add_argument(
        "--refcorr", choices=("auto", "none", "seed", "smoothed", "sirs"), default="auto",
        help="reference-pixel correction: seed = Payeur et al. 2022 recipe, smoothed = JWST refpix-like, "
        "sirs = calibrated on the detector's darks (needs --calibration), none; auto = sirs with --calibration, "
        "else seed where the geometry has reference pixels, else none (default auto)",
    )
    fit.add_argument("--reference-check", action=argparse.BooleanOptionalAction, default=True,
                     help="compare the fit with its reference correction and without it (the same reads and jumps) "
                     "and keep the plain fit where the image's own dark pixels show clearly less structure without "
                     "it (reference pixels that see a pattern the interior does not); with --clean, before "
                     "cleaning; about 15 %% more time, a second fit only where the plain one is taken "
                     "(default: check)")
    fit.add_argument("--calibration", metavar="FILE",
                     help="the detector's reference calibration made by `hxrg calibrate` (default: none)")
    fit.add_argument("--weighting", choices=("ols", "optimal"), default="ols",
                     help="UTR weights: least squares or optimal for read+Poisson noise (default ols)")
    fit.add_argument("--clean", action="store_true",
                     help="remove correlated noise left in the flux image (ACN, common mode, channel drifts "
                     "from dark pixels) (default: off)")
    fit.add_argument("--no-keep-background", dest="keep_background", action="store_false",
                     help="with --clean: remove the scene's smooth background across the columns too (a sky "
                     "gradient, scattered light), which the cleaning would take for channel levels (default: kept, "
                     "in the share that segments of the ramp show to be charge rather than noise)")
    fit.add_argument("--fowler", type=positive_int, metavar="K",
                     help="reads averaged at each end, with --method fowler (default 4)")
    add_pixel_map_arguments(fit)
    add_read_arguments(fit)
    fit.add_argument("--bad-pixels", metavar="FILE",
                     help="FITS mask of the data's shape, non-zero where a pixel is bad: flagged DO_NOT_USE "
                     "(default: none)")
    fit.add_argument("--read-noise", type=positive_or_map, metavar="NOISE|FILE",
                     help="read noise per read in electrons, or a FITS map of it per pixel, for ERR, jump "
                     "detection and optimal weights (default: estimated from the data)")
    add_product_arguments(fit)
    fit.add_argument("--rateints", metavar="PATH",
                     help="with --integration all: also write each integration's flux, one plane per integration "
                     "(with --product jwst a rateints file, JWST's CubeModel) (default: none)")
    fit.add_argument("--frame-time", type=positive_float, metavar="SECONDS",
                     help="seconds between reads, for --units e-/s (default: the header's TGROUP, TFRAME x "
                     "(NFRAMES + GROUPGAP) or FRMTIME, else the geometry's frame time for the rows read)")
    fit.add_argument("--full-frame-timing", action="store_true",
                     help="without timing keywords: the reads are crops of full-frame reads of the --geometry "
                     "preset, so the frame time is the whole array's (default: a window of the rows read)")
    fit.add_argument("--flag-non-finite", action="store_true",
                     help="flag NaN/inf/BLANK science pixels in DQ instead of failing (default: fail)")
    fit.add_argument("--strip-rows", type=positive_int, default=128,
                     help="rows processed at a time; memory only (default 128)")
    add_jump_arguments(fit)
    fit.add_argument("--groupdq-jumps", action="store_true",
                     help="also take the jumps a JWST _ramp.fits's GROUPDQ flags (JUMP_DET, from JWST's jump step) "
                     "as jumps: fitted around and flagged (default: only those found here)")
    add_geometry_arguments(fit)
    sub.add_parser("geometries", parents=[common], help="list the readout geometry presets",
                   description="List the readout geometry presets.")
    cal = _darks_command(
        sub, common, "calibrate", "calibration FITS file to write",
        help="fit the reference correction to a detector from its dark ramps (SIRS class)",
        description="Learn, by least squares on dark ramps, how the detector's reference pixels predict the "
        "correlated noise of its science pixels (levels from the top/bottom rows, frequency-dependent weights of the "
        "left/right columns, per channel); use the result with --refcorr sirs --calibration FILE in fit, denoise "
        "and bench. Example: hxrg calibrate darks/*.fits -o detector.fits --geometry nirps-h4rg",
    )
    cal.add_argument("--gain", type=positive_float, default=1.0, help="electrons per ADU (default 1)")
    cal.add_argument("--frame-template", action="store_true",
                     help="also learn a fixed pattern whose amplitude each read measures on the reference pixels (a "
                     "picture frame they see more strongly than the interior), kept only where the darks' held-out "
                     "reads say it helps; compare with and without on your data (hxrg bench --darks --calibration)")
    add_geometry_arguments(cal)
    dark = _darks_command(
        sub, common, "superdark", "superdark FITS cube to write",
        help="combine dark ramps into a superdark for --dark (clipped mean per read)",
        description="Combine dark ramps of one detector and readout into a superdark: read by read, the mean of "
        "the darks with values far from their median left out (cosmic rays, RTS steps). Subtracted with --dark in "
        "fit and denoise, it takes dark current, hot pixels and the start transient out of every slope. "
        "Example: hxrg superdark darks/*.fits -o superdark.fits",
    )
    dark.add_argument("--strip-rows", type=positive_int, default=32,
                      help="rows of every dark read at a time; memory only (default 32)")
    return {"fit": run_fit, "geometries": run_geometries, "calibrate": run_calibrate, "superdark": run_superdark}


def _darks_command(sub, common: argparse.ArgumentParser, name: str, output_help: str, **text) -> argparse.ArgumentParser:
    """A command that reads dark ramps and writes one file (``calibrate``, ``superdark``)."""
    command = sub.add_parser(name, parents=[common], **text)
    command.add_argument("darks", nargs="+",
                         help="dark ramps: folders of reads, 3D or 4D cubes (quoted globs allowed)")
    add_output(command, output_help)
    command.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: refuse)")
    return command


def run_superdark(args: argparse.Namespace) -> int:
    """Run ``hxrg superdark``."""
    from hxrg_denoiser.batch import expand_inputs
    from hxrg_denoiser.classical.superdark import write_superdark
    from hxrg_denoiser.io.safety import check_output_path

    darks = expand_inputs(args.darks)
    check_output_path(args.output, overwrite=args.overwrite, inputs=read_paths(args))
    start = time.perf_counter()
    clipped = write_superdark(darks, args.output, overwrite=args.overwrite, strip_rows=args.strip_rows,
                              progress=not args.quiet)
    print(f"{args.output}: superdark of {len(darks)} dark ramps, {clipped} values clipped, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Run ``hxrg calibrate``."""
    from hxrg_denoiser.batch import expand_inputs
    from hxrg_denoiser.classical.sirs import DC_EVIDENCE, FRAME_EVIDENCE
    from hxrg_denoiser.classical.sirs_fit import fit_sirs_files
    from hxrg_denoiser.io.safety import check_output_path

    darks = expand_inputs(args.darks)
    check_output_path(args.output, overwrite=args.overwrite, inputs=read_paths(args))
    start = time.perf_counter()
    calibration = fit_sirs_files(darks, lambda shape, path: resolve_geometry(args, shape, path), gain=args.gain,
                                 progress=not args.quiet, frame=args.frame_template)
    geometry = calibration.geometry
    calibration.save(args.output, overwrite=args.overwrite)
    record = calibration.record
    assert record is not None  # a calibration just fitted has its record
    explained = 0.0 if record.residual_fraction is None else 1.0 - record.residual_fraction
    print(f"{args.output}: SIRS calibration of {geometry.name} {geometry.n_rows} x {geometry.n_cols} from "
          f"{len(darks)} dark(s), {sum(record.reads)} reads; the reference pixels predict "
          f"{100 * explained:.0f} % of the channel row-mean variance; {time.perf_counter() - start:.1f} s")
    fitted = record.mean_model == "fitted"
    print(f"  each read's mean: the reference rows' levels leave {record.mean_evidence:.2f} times the "
          f"variance of a fit of it (the fit is used from {DC_EVIDENCE:g}): "
          + ("the fit is used: the reference rows mislead (they see something the interior does not, e.g. a "
             "picture frame)" if fitted else "the reference rows' levels are used"))
    if args.frame_template and record.frame_evidence == 0:
        print("  a frame template was not tried: it needs darks of 5 reads or more")
    elif record.frame_evidence > 0:
        used = calibration.frame is not None
        print(f"  a frame template (a pattern of fixed shape, its amplitude measured in each read on the reference "
              f"pixels) leaves {record.frame_evidence:.2f} times less variance on held-out reads (used from "
              f"{FRAME_EVIDENCE:g}): " + ("used" if used else "not used"))
    return 0


def fit_options(args: argparse.Namespace):
    """The :class:`~hxrg_denoiser.fitting.FitOptions` the command line asks for."""
    from hxrg_denoiser.fitting import FitOptions

    refuse_unless(args, "fowler", args.method == "fowler", "--fowler applies to --method fowler")
    refuse_unless(args, "keep_background", args.clean, "--no-keep-background applies with --clean", skip=True)
    return FitOptions(
        method=args.method, refcorr=args.refcorr, weighting=args.weighting, fowler_n=args.fowler or 4,
        gain=args.gain, read_noise=args.read_noise, units=product_units(args), saturation=args.saturation,
        flag_non_finite=args.flag_non_finite, strip_rows=args.strip_rows, clean=args.clean,
        keep_background=args.keep_background,
        calibration=args.calibration, frame_time=args.frame_time, full_frame_timing=args.full_frame_timing,
        bad_pixels=args.bad_pixels, reference_check=args.reference_check,
        **read_options(args),
        **jump_options(args),
        groupdq_jumps=args.groupdq_jumps,
    )


def run_fit(args: argparse.Namespace) -> int:
    """Run ``hxrg fit``."""
    from hxrg_denoiser.cli.exposures import cluster, run_batch
    from hxrg_denoiser.fitting import fit_file_split, fit_ramp
    from hxrg_denoiser.io.output import write_flux_image
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.io.safety import check_output_path

    options = fit_options(args)
    if is_batch(args):
        from hxrg_denoiser.batch import fit_exposure

        if args.rateints is not None:
            raise UsageError("--rateints applies to one input (give --integration all and one 4D cube)")

        return run_batch(args, fit_exposure, options, geometry_args(args), args.overwrite, args.product)
    source = args.input[0]
    check_output_path(args.output, overwrite=args.overwrite, inputs=read_paths(args))
    if args.rateints is not None:
        _check_rateints(args)
    start = time.perf_counter()
    if args.integration == "all":
        return _fit_all_integrations(args, options, source, start)
    open_args = {"hdu": args.hdu, "integration": args.integration or 0}
    with open_ramp(source, **open_args) as ramp:
        options = options.with_upstream_flags(source, args.integration or 0)  # a _ramp.fits: GROUPDQ, PIXELDQ
        geometry = resolve_geometry(args, (ramp.n_rows, ramp.n_cols), source, ramp.header)
        if args.split:
            with cluster(args) as client:
                image = fit_file_split(source, geometry, options, client, args.split, open_args)
        else:
            image = fit_ramp(ramp, geometry, options, progress=not args.quiet)
    write_flux_image(args.output, image, overwrite=args.overwrite, product=args.product, gain=options.gain,
                     extra=integration_cards(ramp, args))
    print(
        f"{args.output}: {image.provenance.method} flux of {ramp.n_reads} reads, {geometry.name} "
        f"{geometry.n_rows} x {geometry.n_cols}, read noise {image.provenance.read_noise:.2f} "
        f"{image.provenance.count_unit}, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def _fit_all_integrations(args: argparse.Namespace, options, source: str, start: float) -> int:
    """``hxrg fit --integration all``: each integration of a 4D cube fitted (with its own GROUPDQ), then
    combined into one image as JWST combines a rate (:func:`~hxrg_denoiser.fitting.integrations.combine_flux_images`)."""
    from hxrg_denoiser.fitting import fit_ramp
    from hxrg_denoiser.fitting.integrations import combine_flux_images
    from hxrg_denoiser.io.output import write_flux_cube, write_flux_image
    from hxrg_denoiser.io.ramps import open_ramp

    if args.split:
        raise UsageError("--split fits one integration; give --integration N")
    images = []
    with open_ramp(source, hdu=args.hdu) as first:
        count = first.n_integrations
    for index in range(count):
        with open_ramp(source, hdu=args.hdu, integration=index) as ramp:
            geometry = resolve_geometry(args, (ramp.n_rows, ramp.n_cols), source, ramp.header)
            images.append(fit_ramp(ramp, geometry, options.with_upstream_flags(source, index),
                                   progress=not args.quiet, description=f"fit integration {index + 1}/{count}"))
    image = combine_flux_images(images)
    if args.rateints is not None:
        write_flux_cube(args.rateints, images, overwrite=args.overwrite, product=args.product, gain=options.gain,
                        extra={"INTEGRTN": ("each", "one plane per integration")})
    del images
    cards = {"INTEGRTN": ("all", "integrations combined by inverse variance"),
             "NINTS": (count, "integrations in the input")}
    write_flux_image(args.output, image, overwrite=args.overwrite, product=args.product, gain=options.gain,
                     extra=cards)
    print(f"{args.output}: {image.provenance.method} flux of {count} integration(s), {geometry.name} "
          f"{geometry.n_rows} x {geometry.n_cols}, {time.perf_counter() - start:.1f} s"
          + (f"; each integration's in {args.rateints}" if args.rateints is not None else ""))
    return 0


def _check_rateints(args: argparse.Namespace) -> None:
    """``--rateints``: refused in one line before any work unless it can be written beside the rate."""
    from hxrg_denoiser.io.output import CUBE_LAYOUTS
    from hxrg_denoiser.io.safety import check_output_path

    if args.integration != "all":
        raise UsageError("--rateints holds one image per integration: give --integration all")
    if args.product not in CUBE_LAYOUTS:
        raise UsageError(f"--rateints: --product {args.product} has no layout for one image per integration; "
                         f"use {' or '.join(CUBE_LAYOUTS)}")
    if os.path.abspath(args.rateints) == os.path.abspath(args.output):
        raise UsageError(f"--rateints {args.rateints}: the same file as -o; give another name")
    check_output_path(args.rateints, overwrite=args.overwrite, inputs=read_paths(args))


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
