"""Many exposures at once, and one large exposure split by rows, on a Dask cluster.

Each exposure is one task. Outputs are written atomically by the task;
outputs that already exist are skipped unless ``overwrite``; a failed
exposure is reported with its file name and does not stop the others.
A local cluster of ``workers`` processes is started when no scheduler address
is given.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.errors import HxrgError, OutputError, UnavailableError, UsageError, one_line
from hxrg_denoiser.io.safety import prepare_output_folder, refuse_input_overlap
from hxrg_denoiser.threads import compute_threads

__all__ = ["ExposureResult", "expand_inputs", "plan_outputs", "run_exposures", "summary", "cluster_client",
           "ramp_problem", "reads_of_one_ramp"]

log = logging.getLogger(__name__)


@dataclass
class ExposureResult:
    """What happened to one exposure: ``done``, ``skipped`` or ``failed`` (with the error)."""

    input: str
    output: str
    status: str
    seconds: float = 0.0
    error: str = ""


def expand_inputs(inputs: Iterable[str], *, strict: bool = True) -> list[str]:
    """Expand glob patterns (quoted on the command line) and keep files and folders as given, sorted.

    A pattern that matches nothing is an error when ``strict``, else dropped.
    """
    expanded: list[str] = []
    for item in inputs:
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item))
            if not matches and strict:
                raise HxrgError(f"{item}: pattern matches no file or folder")
            expanded += matches
        else:
            expanded.append(item)
    return expanded


def output_stems(inputs: list[str]) -> list[str]:
    """The name each input's output takes: its file or folder name without ``.fits``; where names repeat
    (``dk1/cube.fits``, ``dk2/cube.fits``: every simulated exposure is ``cube.fits``), the folders above
    them are put in front, as many as make them differ (``dk1_cube``, ``dk2_cube``). The same input
    given twice keeps one name."""
    parts = [Path(os.path.abspath(path.rstrip("/"))).parts for path in inputs]

    def stem(index: int, depth: int) -> str:
        chosen = list(parts[index][-depth:])
        last = chosen[-1]
        chosen[-1] = last[: -len(".fits")] if last.lower().endswith(".fits") else last
        return "_".join(p.strip(os.sep) for p in chosen if p.strip(os.sep))

    depth = [1] * len(inputs)
    while True:
        stems = [stem(i, d) for i, d in enumerate(depth)]
        clash = [i for i, s in enumerate(stems) if stems.count(s) > 1 and depth[i] < len(parts[i])
                 and any(parts[j] != parts[i] for j, t in enumerate(stems) if t == s)]
        if not clash:
            return stems
        for i in clash:
            depth[i] += 1


def plan_outputs(
    inputs: list[str], outdir: str | os.PathLike, suffix: str = ".fits", *, create: bool = True,
    protect: Iterable[str | os.PathLike] = (),
) -> list[tuple[str, str]]:
    """``(input, OUTDIR/<name><suffix>)`` pairs (names from :func:`output_stems`), the folder created (or,
    ``create=False``, checked).

    Refuses two inputs that would share an output (the same input given twice), and any output that would
    be one of the inputs or of ``protect`` (the other files the command reads) or lie inside such a folder
    (checked before any work, so nothing is touched).
    """
    protect = [*inputs, *protect]
    if Path(outdir).exists() and not Path(outdir).is_dir():
        raise OutputError(f"{outdir}: with several inputs the output must be a folder")
    pairs: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path, stem in zip(inputs, output_stems(inputs)):
        output = str(Path(outdir) / f"{stem}{suffix}")
        if output in seen:
            raise OutputError(f"{path} and {seen[output]} would both write {output}")
        refuse_input_overlap(output, protect)
        seen[output] = path
        pairs.append((path, output))
    prepare_output_folder(outdir, inputs=protect, create=create)
    return pairs


def quiet_dask(verbose: bool = False) -> None:
    """Keep Dask's own logs (cluster start, worker registration, a failed task's traceback: each exposure's
    failure is reported in one line by :func:`summary`) off the console unless ``verbose``."""
    level = logging.INFO if verbose else logging.CRITICAL
    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker",
                 "distributed.core", "distributed.http.proxy", "distributed.diskutils"):
        logging.getLogger(name).setLevel(level)


def _check_reachable(scheduler: str, timeout: float) -> None:
    """Fail at once when nothing listens at a ``tcp://host:port`` scheduler address (Dask would retry until
    its timeout); other address forms are left to Dask."""
    match = re.fullmatch(r"tcp://\[?([^\]]+?)\]?:(\d+)", scheduler.strip())
    if match is None:
        return
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout=timeout).close()
    except OSError as err:
        raise UnavailableError(f"--scheduler {scheduler}: cannot connect ({err.strerror or err})") from None


@contextlib.contextmanager
def cluster_client(workers: int = 2, scheduler: str | None = None, *, verbose: bool = False,
                   connect_timeout: float = 10.0) -> Iterator:
    """A Dask client to ``scheduler`` if given, else to a local cluster of ``workers`` processes (closed after).

    Raises
    ------
    UsageError
        If ``workers`` < 1.
    UnavailableError
        If the scheduler cannot be reached within ``connect_timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    quiet_dask(verbose)
    if scheduler:
        _check_reachable(scheduler, connect_timeout)
        try:
            client = Client(scheduler, timeout=f"{connect_timeout}s")
        except (OSError, TimeoutError, ValueError) as err:
            raise UnavailableError(f"--scheduler {scheduler}: cannot connect ({one_line(err)})") from None
        with client:
            yield client
        return
    if workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    # each worker process fits with its share of the cores (HXRG_THREADS, unless set), inherited at its start
    share = os.environ.get("HXRG_THREADS")
    os.environ["HXRG_THREADS"] = share or str(max(1, compute_threads() // workers))
    try:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.INFO if verbose else logging.CRITICAL) as cluster:
            with Client(cluster) as client:
                yield client
    finally:
        if share is None:
            os.environ.pop("HXRG_THREADS", None)


def _timed(task: Callable, source: str, output: str, *args) -> float:
    start = time.perf_counter()
    task(source, output, *args)
    return time.perf_counter() - start


def run_exposures(
    pairs: list[tuple[str, str]],
    task: Callable,
    *args,
    client=None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[ExposureResult]:
    """Run ``task(input, output, *args)`` for every pair not yet done, on ``client`` (serially if None)."""
    results: dict[str, ExposureResult] = {}
    todo = []
    for source, output in pairs:
        if Path(output).exists() and not overwrite:
            results[source] = ExposureResult(source, output, "skipped")
        else:
            todo.append((source, output))
    bar = tqdm(total=len(todo), desc="exposures", unit="exp", disable=not progress)
    if client is None:
        for source, output in todo:
            results[source] = _run_one(task, source, output, args)
            bar.update()
    else:
        from distributed import as_completed

        futures = {client.submit(_timed, task, s, o, *args, pure=False, key=f"exposure-{i}-{Path(s).name}"): (s, o)
                   for i, (s, o) in enumerate(todo)}
        for future in as_completed(futures):
            source, output = futures[future]
            try:
                results[source] = ExposureResult(source, output, "done", future.result())
            except Exception as err:  # reported per exposure: one bad file must not stop the others
                results[source] = ExposureResult(source, output, "failed", error=one_line(err))
            bar.update()
    bar.close()
    return [results[source] for source, _ in pairs]


def _run_one(task: Callable, source: str, output: str, args: tuple) -> ExposureResult:
    try:
        return ExposureResult(source, output, "done", _timed(task, source, output, *args))
    except Exception as err:  # reported per exposure
        return ExposureResult(source, output, "failed", error=one_line(err))


def ramp_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a ramp (one line), or None: checked before a batch starts, so that a bad
    input is reported at once and never sent to a worker."""
    from hxrg_denoiser.io.ramps import open_ramp

    try:
        with open_ramp(path):
            return None
    except HxrgError as err:
        return str(err)


def reads_of_one_ramp(inputs: list[str]) -> str | None:
    """The folder, when every input is a single 2D read of one folder (the reads of one ramp given one by one)."""
    from hxrg_denoiser.io.ramps import FITS_SUFFIXES

    folders = {str(Path(p).parent) for p in inputs}
    if len(inputs) < 2 or len(folders) != 1 or not all(p.lower().endswith(FITS_SUFFIXES) for p in inputs):
        return None
    from astropy.io import fits

    try:
        if all(fits.getheader(p).get("NAXIS") == 2 for p in inputs):
            return folders.pop()
    except (OSError, ValueError, IndexError):
        return None
    return None


def summary(results: list[ExposureResult]) -> str:
    """Lines for the console: failures with their messages, then counts and time per exposure."""
    lines = [f"FAILED {r.input}: {r.error.removeprefix(r.input + ': ')}" for r in results if r.status == "failed"]
    done = [r for r in results if r.status == "done"]
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    mean = f", {np.mean([r.seconds for r in done]):.1f} s per exposure" if done else ""
    lines.append(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed{mean}")
    return "\n".join(lines)


def fit_exposure(source: str, output: str, options, geometry_args: dict, overwrite: bool = False,
                 product: str = "hxrg") -> None:
    """Task: ``hxrg fit`` of one exposure into ``output`` (atomic), written as ``product``."""
    from hxrg_denoiser.fitting import fit_ramp
    from hxrg_denoiser.geometry import geometry_for_shape
    from hxrg_denoiser.io.output import write_flux_image
    from hxrg_denoiser.io.ramps import open_ramp

    with open_ramp(source) as ramp:
        options = options.with_upstream_flags(source)  # a _ramp.fits: GROUPDQ, PIXELDQ
        recorded = ramp.header.get("GEOMETRY")
        geometry = geometry_for_shape((ramp.n_rows, ramp.n_cols), **geometry_args, source=source,
                                      recorded=recorded if isinstance(recorded, str) else None)
        image = fit_ramp(ramp, geometry, options)
    write_flux_image(output, image, overwrite=overwrite, product=product, gain=options.gain)


def denoise_exposure(source: str, output: str, model_path: str, geometry_args: dict, settings: dict,
                     overwrite: bool = False, product: str = "hxrg", units: str = "e-") -> None:
    """Task: ``hxrg denoise`` of one exposure into ``output`` (atomic); ``geometry_args`` are keyword
    arguments of :meth:`~hxrg_denoiser.denoise.Denoiser.geometry_for`, ``settings`` a
    :class:`~hxrg_denoiser.denoise.DenoiseSettings` as a dict."""
    from hxrg_denoiser.denoise import DenoiseSettings, load_denoiser
    from hxrg_denoiser.io.output import write_flux_image
    from hxrg_denoiser.io.product import in_units
    from hxrg_denoiser.io.ramps import open_ramp

    denoiser = load_denoiser(model_path)
    with open_ramp(source) as ramp:
        geometry = denoiser.geometry_for((ramp.n_rows, ramp.n_cols), source, **geometry_args)
        chosen = DenoiseSettings(**settings)
        image = denoiser.denoise(ramp, geometry, chosen.with_upstream_flags(source) if denoiser.fits_its_input
                                 else chosen)
    write_flux_image(output, in_units(image, units), overwrite=overwrite, product=product,
                     gain=settings.get("gain"))
