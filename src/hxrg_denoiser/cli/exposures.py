"""Running a command on many exposures (Dask) or on one exposure split by rows."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator

from hxrg_denoiser.cli.options import read_paths

__all__ = ["run_batch", "cluster"]


@contextlib.contextmanager
def cluster(args: argparse.Namespace) -> Iterator:
    """The Dask client the options ask for (a local cluster of ``--workers``, 2 by default, or ``--scheduler``)."""
    from hxrg_denoiser.batch import cluster_client

    with cluster_client(args.workers or 2, args.scheduler, verbose=args.verbose) as client:
        yield client


def run_batch(args: argparse.Namespace, task: Callable, *task_args) -> int:
    """Run ``task(input, output, *task_args)`` for every input into the ``-o`` folder; print the summary.

    Several inputs run on Dask; a single input (``-o`` ending with ``/``) runs here. Outputs that
    exist are skipped, or with ``--overwrite`` replaced when hxrg wrote them (the folder's manifest
    says so); everything is checked before the cluster starts.
    Returns 1 if any exposure failed, else 0.
    """
    import os

    from hxrg_denoiser.batch import (
        ExposureResult,
        plan_outputs,
        ramp_problem,
        reads_of_one_ramp,
        run_exposures,
        summary,
    )
    from hxrg_denoiser.errors import UsageError
    from hxrg_denoiser.io.safety import OutputFolder

    folder_of_reads = reads_of_one_ramp(args.input)
    if folder_of_reads is not None:
        raise UsageError(f"{args.input[0]} ...: {len(args.input)} single reads of one folder; give the folder "
                         f"{folder_of_reads}/ as one input, the reads of one ramp")
    protect = read_paths(args, models=[getattr(args, "model", None)])
    pairs = plan_outputs(args.input, args.output, create=False, protect=protect)  # before the cluster starts
    start = time.perf_counter()
    problems = {source: ramp_problem(source) for source, _ in pairs}  # bad inputs never reach a worker
    unreadable = [ExposureResult(s, o, "failed", error=problems[s] or "") for s, o in pairs if problems[s]]
    runnable = [(s, o) for s, o in pairs if not problems[s]]
    folder = OutputFolder(args.output, inputs=protect, overwrite=args.overwrite)
    todo = [os.path.basename(output) for _, output in runnable if args.overwrite or not os.path.lexists(output)]
    folder.check(todo)
    results: list = []
    if len(runnable) > 1:
        with cluster(args) as client:
            folder.claim(todo)
            results = run_exposures(runnable, task, *task_args, client=client, overwrite=args.overwrite,
                                    progress=not args.quiet)
    elif runnable:
        folder.claim(todo)
        results = run_exposures(runnable, task, *task_args, overwrite=args.overwrite, progress=not args.quiet)
    order = {source: index for index, (source, _) in enumerate(pairs)}
    results = sorted([*results, *unreadable], key=lambda r: order[r.input])
    print(summary(results) + f"; {time.perf_counter() - start:.1f} s in all")
    return 1 if any(r.status == "failed" for r in results) else 0
