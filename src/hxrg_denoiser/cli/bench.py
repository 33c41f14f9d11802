"""``hxrg bench`` and ``hxrg demo``."""

from __future__ import annotations

import argparse
import sys

from hxrg_denoiser.cli.options import (
    add_geometry_arguments,
    add_output,
    positive_float,
    positive_int,
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
        description="Benchmark CDS, UTR, reference-corrected UTR, the oracle and any trained model against the truth. "
        "Examples: hxrg bench --suite bench-v1 -o DIR;  hxrg bench --darks darks/ --scene truth.fits "
        "--geometry nirps-h4rg -o DIR. Writes report.md, metrics.json and PNG figures.",
    )
    source = bench.add_mutually_exclusive_group(required=True)
    source.add_argument("--suite", help="built-in suite: bench-v1, or bench-v1-quick (3 cases)")
    source.add_argument("--darks", help="your dark ramp (folder of reads, 3D or 4D cube); needs --scene")
    bench.add_argument("--scene", help="with --darks: true scene, expected electrons over the ramp (FITS)")
    add_output(bench, "output folder (created if needed)", metavar="OUTDIR")
    bench.add_argument("--model", action="append", default=[], metavar="PATH",
                       help="trained model to evaluate: a path or a shipped name such as 'default'; repeatable "
                       "(default: classical methods only)")
    bench.add_argument("--seed", type=int, help="with --darks: seed of the Poisson accumulation (default 0)")
    bench.add_argument("--gain", type=positive_float, help="with --darks: electrons per unit of the darks (default 1)")
    bench.add_argument("--rows", type=positive_int, help="with --suite: rows of the strip (default 264)")
    bench.add_argument("--reads", type=positive_int, help="with --suite: number of reads (default 100)")
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
    demo.add_argument("--seed", type=int, default=20261124, help="random seed (default 20261124)")
    demo.add_argument("--keep-cubes", action="store_true",
                      help="keep the simulated ramp and its oracle in OUTDIR/data (420 MB for the default strip; "
                      "default: removed, only images, figure and report stay)")
    return {"bench": run_bench_command, "demo": run_demo_command}


def model_methods(paths: list[str]) -> list:
    """Benchmark methods for the models named on the command line, with distinct names.

    Two models with the same name (a shipped ``default`` and a retrained run
    folder that kept the name) are labelled by what was given on the command line.
    """
    from hxrg_denoiser.bench.runner import model_method

    methods = [model_method(path) for path in paths]
    names = [m.name for m in methods]
    labelled = [model_method(path, name=path) if names.count(m.name) > 1 else m for path, m in zip(paths, methods)]
    reserved = {"cds", "utr", "utr_ref_seed", "utr_ref_smoothed", "utr_ref_seed_clean", "oracle"}
    seen: set[str] = set()
    for path, method in zip(paths, labelled):
        if method.name in seen or method.name in reserved:
            raise UsageError(f"--model {path}: its name {method.name!r} is already used in this benchmark")
        seen.add(method.name)
    return labelled


def run_bench_command(args: argparse.Namespace) -> int:
    """Run ``hxrg bench``."""
    from hxrg_denoiser.bench.command import run_bench, suite_cases, user_case

    for name in ("rows", "reads"):
        refuse_unless(args, name, args.suite is not None, f"--{name} applies with --suite")
    for name in ("scene", "seed", "gain"):
        refuse_unless(args, name, args.darks is not None, f"--{name} applies with --darks")
    inputs = []
    if args.darks is not None:
        if args.scene is None:
            raise UsageError("--darks needs --scene TRUTH.fits")
        cases = user_case(args.darks, args.scene, lambda shape, src: resolve_geometry(args, shape, src),
                          seed=args.seed or 0, gain=args.gain or 1.0)
        suite, inputs = "user", [args.darks, args.scene]
    else:
        cases = suite_cases(args.suite, n_rows=args.rows, n_reads=args.reads)
        suite = args.suite
    models = model_methods(args.model)
    command_line = "hxrg " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("hxrg") else "hxrg bench"
    results = run_bench(cases, args.output, suite=suite, models=models, command=command_line,
                        overwrite=args.overwrite, progress=not args.quiet, inputs=inputs)
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
