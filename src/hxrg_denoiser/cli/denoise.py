"""``hxrg denoise``: a trained model applied to ramps."""

from __future__ import annotations

import argparse
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
    positive_int,
    product_units,
    read_options,
    read_paths,
)
from hxrg_denoiser.errors import UsageError

__all__ = ["register"]


def register(sub, common: argparse.ArgumentParser) -> dict:
    """Add ``denoise`` to the sub-parsers; returns its runner."""
    den = sub.add_parser(
        "denoise", parents=[common],
        help="flux image predicted by a trained model",
        description="Apply a trained model to a ramp, streamed by row strips. "
        "Example: hxrg denoise cube.fits -o flux.fits --geometry nirps-h4rg (the shipped default model)",
    )
    add_input_arguments(den, many=True)
    den.add_argument("--model", default="default",
                     help="a shipped model name, a training run folder or NAME.safetensors (with NAME.json) "
                     "(default: the shipped 'default' model)")
    add_output(den, "output FITS file; a folder (created if needed) with several inputs or when it ends with /")
    den.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: refuse)")
    den.add_argument("--strip-rows", type=positive_int, default=64,
                     help="rows read at a time; memory only (default 64)")
    den.add_argument("--batch-rows", type=positive_int,
                     help="payeur2022 models: rows per network call; memory only (default 16)")
    den.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default auto)")
    den.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                     help="bf16: faster on AMX CPUs and GPUs (default fp32)")
    den.add_argument("--flag-non-finite", action="store_true",
                     help="flag NaN/inf/BLANK science pixels in DQ instead of failing (default: fail)")
    den.add_argument("--no-reference-check", dest="reference_check", action="store_false",
                     help="flux-image models: skip the check that the reference correction does not add structure "
                     "to the dark pixels (about 15 %% of a fit's time; default: check)")
    den.add_argument("--no-keep-background", dest="keep_background", action="store_false",
                     help="flux-image models: let the network see the scene's smooth background across the columns "
                     "(a sky gradient, extended emission), which it may take for channel offsets (default: taken "
                     "out before the network and given back after)")
    den.add_argument("--calibration", metavar="FILE",
                     help="the detector's calibration (`hxrg calibrate`): a flux-image model then takes the sirs "
                     "reference-corrected image (default: the model's own reference correction)")
    add_pixel_map_arguments(den, scope="flux-image models (their input fit): ")
    add_read_arguments(den, scope="flux-image models (their input fit): ", default_first="auto without --dark, "
                       "0 with it")
    add_jump_arguments(den)
    add_product_arguments(den)
    den.add_argument("--any-layout", action="store_true",
                     help="run a model on a channel layout it was never measured on, when its architecture takes "
                     "any (readout-set); measure it first with hxrg bench --suite bench-v1 --channels N "
                     "(default: refuse; `hxrg models` lists the layouts each model serves)")
    add_geometry_arguments(den)
    return {"denoise": run_denoise}


def run_denoise(args: argparse.Namespace) -> int:
    """Run ``hxrg denoise``."""
    from hxrg_denoiser.cli.exposures import cluster, run_batch
    from hxrg_denoiser.denoise import DenoiseSettings, load_denoiser, pick_device
    from hxrg_denoiser.io.output import write_flux_image
    from hxrg_denoiser.io.product import in_units
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.io.safety import check_output_path

    pick_device(args.device)  # a missing GPU is reported before any work
    denoiser = load_denoiser(args.model)
    settings = DenoiseSettings(strip_rows=args.strip_rows, batch_rows=args.batch_rows, device=args.device,
                               precision=args.precision, flag_non_finite=args.flag_non_finite,
                               calibration=args.calibration, reference_check=args.reference_check,
                               saturation=args.saturation, gain=args.gain, keep_background=args.keep_background,
                               **read_options(args),
                               **jump_options(args))
    fit_given = (args.jump_threshold is not None or args.jump_neighbours or not args.jumps
                 or args.jump_cluster_threshold is not None or not args.jump_step
                 or args.saturation is not None or args.gain is not None or settings.reads_given)
    if fit_given and not denoiser.fits_its_input:
        raise UsageError("--gain, --saturation, --dark, --first-read, --last-read, --linearity, --ipc, --jump-threshold, --no-jumps, --jump-neighbours and "
                         "--jump-cluster-threshold, --no-jump-step apply to flux-image "
                         "models "
                         "(default), not to ribbon models, which take the reads themselves")
    if not args.keep_background and not denoiser.fits_its_input:
        raise UsageError("--no-keep-background applies to flux-image models (default), not to ribbon models")
    units = product_units(args)
    if args.batch_rows is not None and denoiser.fits_its_input:
        raise UsageError("--batch-rows applies to ribbon models (payeur2022), not to a flux-image model")
    if is_batch(args):
        from hxrg_denoiser.batch import denoise_exposure

        layout = {**geometry_args(args), "allow_unmeasured": args.any_layout}
        return run_batch(args, denoise_exposure, str(args.model), layout,
                         vars(settings).copy(), args.overwrite, args.product, units)
    source = args.input[0]
    if args.integration == "all":
        raise UsageError("--integration all: only hxrg fit combines integrations; denoise one at a time "
                         "(--integration N)")
    check_output_path(args.output, overwrite=args.overwrite, inputs=read_paths(args, models=[args.model]))
    start = time.perf_counter()
    with open_ramp(source, hdu=args.hdu, integration=args.integration or 0) as ramp:
        if denoiser.fits_its_input:
            settings = settings.with_upstream_flags(source, args.integration or 0)  # a _ramp.fits: GROUPDQ, PIXELDQ
        recorded = ramp.header.get("GEOMETRY") if ramp.header is not None else None
        geometry = denoiser.geometry_for((ramp.n_rows, ramp.n_cols), source, allow_unmeasured=args.any_layout,
                                         recorded=recorded, **geometry_args(args))
        if args.split:
            if args.hdu is not None or args.integration:
                raise UsageError("--split reads the default HDU and integration 0")
            with cluster(args) as client:
                image = denoiser.denoise_split(source, str(args.model), geometry, client, args.split, settings)
        else:
            image = denoiser.denoise(ramp, geometry, settings, progress=not args.quiet)
    write_flux_image(args.output, in_units(image, units), overwrite=args.overwrite, product=args.product,
                     gain=args.gain, extra=integration_cards(ramp, args))
    spec = denoiser.spec
    print(f"{args.output}: {spec.name} ({spec.architecture}) on {ramp.n_reads} reads, {geometry.name} "
          f"{geometry.n_rows} x {geometry.n_cols}, {time.perf_counter() - start:.1f} s")
    return 0
