"""``hxrg bench`` and ``hxrg demo``."""

from __future__ import annotations

import argparse
import sys

from hxrg_denoiser.cli.options import (
    add_geometry_arguments,
    add_output,
    nonnegative_int,
    positive_float,
    positive_int,
    read_paths,
    refuse_unless,
    resolve_geometry,
)
from hxrg_denoiser.errors import UsageError

__all__ = ["register", "model_methods"]


def register(sub, common: argparse.ArgumentParser) -> dict:
    """Add ``bench`` and ``demo``; returns their runners."""
    bench = sub.add_parser(
        "bench", parents=[common],
        help="measure every estimator against the truth: built-in suite or your darks + a true scene",
        description="Benchmark UTR, reference-corrected UTR, the oracle and any trained model against the truth. "
        "Examples: hxrg bench --suite bench-v2 -o DIR --model default;  hxrg bench --darks-test darks/test*.fits "
        "--darks-train darks/train*.fits --scene echelle --geometry nirps-h4rg -o DIR --model runs/mine. Writes "
        "report.md, metrics.json and PNG figures.",
    )
    source = bench.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", help="built-in suite: bench-v1, bench-v2 (noise families the models never "
                        "trained on, worst seed, targets), bench-v3 (star fields, galaxies, extended emission, "
                        "gradients and detector effects on three geometries, photometry), or bench-v1-quick / "
                        "bench-v2-quick / bench-v3-quick (2-3 cases)")
    source.add_argument("--darks", "--darks-test", dest="darks", nargs="+", metavar="DARK",
                        help="your dark ramps (folders of reads, 3D or 4D cubes): one case each, with --scene "
                        "accumulated on it; a model must not have trained on them")
    bench.add_argument("--scene", help="with --darks: the true scene, a FITS image of expected electrons over the "
                       "ramp, or a built-in kind (echelle, stars, flat)")
    bench.add_argument("--traces", metavar="FILE",
                       help="with --darks and a FITS scene: its echelle traces (default: found in the scene)")
    bench.add_argument("--darks-train", nargs="+", metavar="DARK",
                       help="with --darks: other darks of the same detector, on which the sirs reference correction "
                       "is calibrated for the benchmark (default: no sirs)")
    bench.add_argument("--calibration", metavar="FILE",
                       help="with --darks: a calibration made by `hxrg calibrate`, for the sirs method (default: none)")
    bench.add_argument("--dark", metavar="FILE",
                       help="with --darks: a dark (superdark, JWST DARK reference, dark-rate image) every method "
                       "subtracts read by read before its fit, as `hxrg fit --dark` (default: none)")
    add_output(bench, "output folder (created if needed)", metavar="OUTDIR")
    bench.add_argument("--model", action="append", default=[], metavar="PATH",
                       help="trained model to evaluate: a path or a shipped name such as 'default'; repeatable "
                       "(default: classical methods only)")
    bench.add_argument("--seed", type=nonnegative_int, help="with --darks: seed of the Poisson accumulation (default 0)")
    bench.add_argument("--gain", type=positive_float, help="with --darks: electrons per unit of the darks (default 1)")
    bench.add_argument("--rows", type=positive_int, help="with --suite: rows of the strip (default 264; bench-v3: each case's own)")
    bench.add_argument("--no-reads-curves", dest="reads_curves", action="store_false",
                       help="skip the error-versus-reads curves, which refit every method at 6 read counts "
                       "(default: drawn, except in bench-v2 and bench-v3)")
    bench.add_argument("--reads", type=positive_int, help="with --suite: number of reads (default 100; bench-v3: each case's own)")
    bench.add_argument("--jobs", type=positive_int,
                       help="worker processes, each building and measuring a family of a suite or one of your "
                       "darks (about 3 GB each on the bench strip, more on a full frame; results do not depend "
                       "on it) (default: one per core, at most 4)")
    bench.add_argument("--overwrite", action="store_true",
                       help="replace an earlier benchmark in that folder (default: refuse)")
    add_geometry_arguments(bench)

    demo = sub.add_parser(
        "demo", parents=[common],
        help="the main job on a simulated exposure: every method against the truth",
        description="Simulate a NIRPS-like echelle exposure with known truth, build flux images with CDS, UTR, "
        "reference-corrected UTR, the shipped default model and the oracle, and write images, a comparison "
        "figure and a report.",
    )
    demo.add_argument("--model", default="default",
                      help="model to run besides the classical methods: a shipped name or a path; "
                      "'none' for classical methods only (default: the shipped 'default')")
    add_output(demo, "output folder (default hxrg-demo)", required=False, default="hxrg-demo", metavar="OUTDIR")
    demo.add_argument("--overwrite", action="store_true", help="replace an earlier demo in that folder (default: refuse)")
    demo.add_argument("--full-frame", action="store_true",
                      help="simulate the full 4096 x 4096 frame; minutes (default: a strip of --rows)")
    demo.add_argument("--rows", type=positive_int, default=256, help="rows of the simulated strip (default 256)")
    demo.add_argument("--reads", type=positive_int, default=100, help="number of reads (default 100)")
    demo.add_argument("--noise", default="h4rg-lab", help="noise preset (default h4rg-lab)")
    demo.add_argument("--seed", type=nonnegative_int, default=20261124, help="random seed (default 20261124)")
    demo.add_argument("--keep-cubes", action="store_true",
                      help="keep the simulated ramp and its oracle in OUTDIR/data (420 MB for the default strip; "
                      "default: removed, only images, figure and report stay)")
    return {"bench": run_bench_command, "demo": run_demo_command}


def _dark_cases(args: argparse.Namespace) -> list:
    """The cases of ``--darks`` (with ``--darks-train`` or ``--calibration`` for sirs)."""
    from pathlib import Path

    from hxrg_denoiser.batch import expand_inputs
    from hxrg_denoiser.bench.command import user_cases
    from hxrg_denoiser.classical.sirs import load_calibration
    from hxrg_denoiser.classical.sirs_fit import fit_sirs_files

    if args.scene is None:
        raise UsageError("--darks needs --scene (a FITS truth image or a built-in kind such as echelle)")
    if args.darks_train and args.calibration:
        raise UsageError("give --darks-train or --calibration, not both")
    test = expand_inputs(args.darks)
    train = expand_inputs(args.darks_train or [])
    resolved = {str(Path(p).resolve()) for p in test}
    overlap = [p for p in train if str(Path(p).resolve()) in resolved]
    if overlap:
        raise UsageError(f"{overlap[0]}: is both a test dark and a training dark; measure on darks kept apart")
    calibration = load_calibration(args.calibration) if args.calibration else None
    if train:
        calibration = fit_sirs_files(train, lambda shape, path: resolve_geometry(args, shape, path),
                                     gain=args.gain or 1.0, progress=not args.quiet)
    cases = user_cases(test, args.scene, lambda shape, src: resolve_geometry(args, shape, src), seed=args.seed or 0,
                       gain=args.gain or 1.0, traces=args.traces, calibration=calibration, dark=args.dark)
    return cases


def model_methods(paths: list[str], *, test_darks=()) -> list:
    """Benchmark methods for the models named on the command line, with distinct names.

    Two models with the same name (a shipped ``default`` and a retrained run
    folder that kept the name) are labelled by what was given on the command line.
    A model that recorded training on one of ``test_darks`` is refused.
    """
    from pathlib import Path

    from hxrg_denoiser.bench.runner import classical_methods, model_method
    from hxrg_denoiser.models.registry import load_model

    tested = {str(Path(p).resolve()) for p in test_darks}
    loaded = [load_model(path) for path in paths]
    for path, (_, spec) in zip(paths, loaded):
        trained_on = spec.training.get("darks") or spec.training.get("recipe", {}).get("darks", [])
        overlap = [d for d in trained_on if str(Path(d).resolve()) in tested]
        if overlap:
            raise UsageError(f"--model {path}: it was trained on {overlap[0]}, one of the test darks; measure it on "
                             "darks it never saw")
    names = [spec.name for _, spec in loaded]
    labels = [path if names.count(name) > 1 else name for path, name in zip(paths, names)]
    reserved = {method.name for method in classical_methods()}
    used: set[str] = set()
    for path, label in zip(paths, labels):
        if label in used or label in reserved:
            raise UsageError(f"--model {path}: its name {label!r} is already used in this benchmark")
        used.add(label)
    # each model also runs with the case's detector calibration where the case has one (NAME+sirs)
    return [model_method(model, name=label, calibrated=calibrated)
            for calibrated in (False, True) for model, label in zip(loaded, labels)]


def _suite_geometry(args: argparse.Namespace):
    """With ``--suite``: the detector the cases are built on (``--geometry``/``--channels``; default none given)."""
    from hxrg_denoiser.bench.suite import BENCH_GEOMETRY
    from hxrg_denoiser.geometry import preset

    if args.geometry is None and args.channels is None:
        return None
    shape = preset(args.geometry or BENCH_GEOMETRY).shape
    return resolve_geometry(args, shape, "--suite")


def run_bench_command(args: argparse.Namespace) -> int:
    """Run ``hxrg bench``."""
    from hxrg_denoiser.bench.command import run_bench, suite_cases

    for name in ("rows", "reads"):
        refuse_unless(args, name, args.suite is not None, f"--{name} applies with --suite")
    for name in ("scene", "seed", "gain", "traces", "darks_train", "calibration", "dark"):
        refuse_unless(args, name, args.darks is not None, f"--{name.replace('_', '-')} applies with --darks")
    from hxrg_denoiser.bench.command import REPORT_FILES
    from hxrg_denoiser.io.safety import OutputFolder

    inputs = read_paths(args, models=args.model)
    OutputFolder(args.output, inputs=inputs, overwrite=args.overwrite).check(REPORT_FILES)  # before any work
    if args.darks is not None:
        cases = _dark_cases(args)
        suite = "user"
    else:
        cases = suite_cases(args.suite, n_rows=args.rows, n_reads=args.reads, geometry=_suite_geometry(args))
        suite = args.suite
    models = model_methods(args.model, test_darks=args.darks or ())
    command_line = "hxrg " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("hxrg") else "hxrg bench"
    families = suite.startswith(("bench-v2", "bench-v3"))  # robustness suites: no CDS, no noise-versus-reads curves
    results = run_bench(cases, args.output, suite=suite, models=models, command=command_line,
                        overwrite=args.overwrite, progress=not args.quiet, inputs=inputs,
                        reads_curves=args.reads_curves and not families, cds=not families, jobs=args.jobs)
    for result in results:
        sigma = {m: v["pixel_robust_sigma"] for m, v in result.metrics.items()}
        print(f"{result.name}: " + ", ".join(f"{m} {s:.3f}" for m, s in sigma.items()))
    print(f"wrote {args.output}/report.md, metrics.json and figures")
    return 0


def run_demo_command(args: argparse.Namespace) -> int:
    """Run ``hxrg demo``."""
    from hxrg_denoiser.demo import run_demo

    result = run_demo(
        args.output, rows=None if args.full_frame else args.rows, n_reads=args.reads, noise=args.noise,
        seed=args.seed, model=None if args.model == "none" else args.model, overwrite=args.overwrite,
        progress=not args.quiet, keep_cubes=args.keep_cubes,
    )
    print(result.table())
    kept = ", data/ (the simulated ramps)" if args.keep_cubes else ""
    print(f"\nwrote {result.outdir}/report.md, comparison.png, images/*.fits{kept} in {result.seconds:.0f} s")
    return 0
