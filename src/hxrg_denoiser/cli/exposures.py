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

    from hxrg_denoiser.batch import plan_outputs, run_exposures, summary
    from hxrg_denoiser.io.safety import OutputFolder

    protect = read_paths(args, models=[getattr(args, "model", None)])
    pairs = plan_outputs(args.input, args.output, create=False, protect=protect)  # before the cluster starts
    folder = OutputFolder(args.output, inputs=protect, overwrite=args.overwrite)
    todo = [os.path.basename(output) for _, output in pairs if args.overwrite or not os.path.lexists(output)]
    folder.check(todo)
    start = time.perf_counter()
    if len(pairs) > 1:
        with cluster(args) as client:
            folder.claim(todo)
            results = run_exposures(pairs, task, *task_args, client=client, overwrite=args.overwrite,
                                    progress=not args.quiet)
    else:
        folder.claim(todo)
        results = run_exposures(pairs, task, *task_args, overwrite=args.overwrite, progress=not args.quiet)
    print(summary(results) + f"; {time.perf_counter() - start:.1f} s in all")
    return 1 if any(r.status == "failed" for r in results) else 0
