"""The benchmark as one call: build cases, run methods, write metrics, report and figures."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from hxrg_denoiser.allocator import retain_freed_memory
from hxrg_denoiser.bench.report import case_figures, source_commit, write_report
from hxrg_denoiser.bench.runner import READS_LIST, CaseResult, Method, classical_methods, evaluate_case
from hxrg_denoiser.bench.suite import EXTRA_CLASSICAL_FITS, SUITES, CaseData, build_case, suite_family
from hxrg_denoiser.bench.traces import find_traces, read_traces
from hxrg_denoiser.errors import RampInputError, UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.darks import open_dark
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.io.safety import OutputFolder
from hxrg_denoiser.simulate.injection import InjectedRamp
from hxrg_denoiser.simulate.scenes import SCENE_KINDS, Scene, load_scene, make_scene

__all__ = ["CaseBuilder", "run_bench", "suite_cases", "user_cases", "user_scene", "default_jobs", "REPORT_FILES"]

REPORT_FILES = ("metrics.json", "report.md")
FIGURES = ("errors", "error_vs_reads", "spectrum")  # each drawn case's NAME_FIGURE.png


class CaseBuilder(NamedTuple):
    """How to make one benchmark case, and how it is grouped.

    Attributes
    ----------
    name : str
    build : callable
        Makes the :class:`~hxrg_denoiser.bench.suite.CaseData` (a picklable ``functools.partial``, so that
        a worker process can build it).
    group : str
        Cases of a group are summarised together; the first one gets the figures.
    batch : str
        Cases of a batch are built and measured in turn by one process (a family's seeds share its
        calibration).
    """

    name: str
    build: Callable[[], CaseData]
    group: str
    batch: str


def suite_cases(suite: str, *, n_rows: int | None = None, n_reads: int | None = None,
                geometry: ReadoutGeometry | None = None) -> list[CaseBuilder]:
    """The cases of a built-in suite (on ``geometry``, default the NIRPS H4RG)."""
    if suite not in SUITES:
        raise UsageError(f"--suite {suite!r}: unknown suite; choose one of {sorted(SUITES)}")
    builders = []
    for case in SUITES[suite]:
        sizes = {k: v for k, v in (("n_rows", n_rows or case.n_rows), ("n_reads", n_reads or case.n_reads))
                 if v is not None}
        group = case.group or (case.name.rsplit("-s", 1)[0] if case.family == "echelle" else case.name)
        builders.append(CaseBuilder(case.name, functools.partial(build_case, case, geometry=geometry, **sizes),
                                    group, group))
    return builders


def user_scene(scene: str, geometry: ReadoutGeometry, *, seed: int = 0, traces: str | None = None) -> Scene:
    """The true scene of a darks benchmark: a built-in kind, or a FITS image with its traces.

    For a FITS image the echelle traces come from ``traces`` (a file from
    :func:`~hxrg_denoiser.bench.traces.write_traces`) or are found in the
    image itself; an image without orders gets pixel metrics only.
    """
    if scene in SCENE_KINDS:
        if traces is not None:
            raise UsageError("--traces applies to a scene given as a FITS file")
        return make_scene(scene, geometry, seed=seed)
    loaded = load_scene(scene, geometry)
    orders = read_traces(traces, geometry) if traces is not None else find_traces(loaded.image, geometry)
    return Scene(loaded.image, "echelle" if orders else loaded.kind, orders)


def user_cases(
    darks: list[str], scene: str, geometry_of, *, seed: int = 0, gain: float = 1.0, traces: str | None = None,
    calibration=None, dark: str | None = None,
) -> list[CaseBuilder]:
    """One case per dark ramp of the user's: the true scene accumulated on it (Poisson, read by read).

    The darks and the scene are checked at once (readable, shapes that match), before any output is made;
    the cases form one family, ``user``, summarised by mean and worst dark. ``dark`` (a superdark, a JWST DARK
    reference or a dark-rate image) is subtracted by every method before its fit (checked against the first
    dark's shape and reads too).
    """
    shapes = []
    for path in darks:
        with open_ramp(path) as ramp:
            shapes.append((ramp.n_rows, ramp.n_cols))
    geometry: ReadoutGeometry = geometry_of(shapes[0], str(darks[0]))
    for path, shape in zip(darks, shapes):
        if shape != shapes[0]:
            raise RampInputError(f"{path}: reads are {shape[0]} x {shape[1]} but {darks[0]} has {shapes[0][0]} x "
                                 f"{shapes[0][1]}; every dark must have the same shape")
    truth = user_scene(scene, geometry, seed=seed, traces=traces)
    if calibration is not None:
        calibration.check_geometry(geometry, str(darks[0]))
    if dark is not None:
        with open_ramp(darks[0]) as first:
            open_dark(dark, first, 0, geometry.frame_time).close()
    names = [Path(str(p).rstrip("/")).name for p in darks]
    labels = names if len(set(names)) == len(names) else [f"dark{i}" for i in range(len(darks))]

    build = functools.partial(_user_case, truth=truth, geometry=geometry, seed=seed, gain=gain,
                              calibration=calibration, dark=dark)
    return [CaseBuilder(label, functools.partial(build, path, label), "user", label)
            for path, label in zip(darks, labels)]


def _user_case(path: str, label: str, *, truth: Scene, geometry: ReadoutGeometry, seed: int, gain: float,
               calibration, dark: str | None = None) -> CaseData:
    """A user's dark with ``truth`` accumulated on it."""
    ramp = InjectedRamp(open_ramp(path), truth.image, seed=seed, gain=gain)
    family = "echelle" if truth.orders else "user"
    return CaseData(label, family, geometry, ramp, None, truth, group="user", calibration=calibration, dark=dark)


def _measure(cases: Sequence[CaseBuilder], methods: Sequence[Method], outdir: Path, *,
             reads_list: tuple[int, ...], draw: set[str], done=None) -> tuple[list[CaseResult], list[str]]:
    """Build and measure ``cases`` in turn, drawing the figures of those named in ``draw``; each case measured
    is said on the queue ``done`` (a worker process's progress, for the parent's bar)."""
    results, figures = [], []
    for builder in cases:
        case = builder.build()
        result = evaluate_case(case, list(methods), keep_images=builder.name in draw, reads_list=reads_list)
        if builder.name in draw:
            figures += case_figures(result, case, outdir)
        result.images = {}
        results.append(result)
        case.ramp.close()
        if done is not None:
            done.put(builder.name)
    return results, figures


def _drain(done, bar) -> None:
    """Move ``bar`` by the cases the workers have said are measured."""
    import queue

    while True:
        try:
            done.get_nowait()
        except queue.Empty:
            return
        bar.update(1)


def _start_worker(level: int, threads: int) -> None:
    """A benchmark worker: the parent's log level, ``threads`` threads for torch and for the fits' array work
    (``HXRG_THREADS``, unless set), freed memory kept."""
    import torch

    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(threads)
    os.environ.setdefault("HXRG_THREADS", str(threads))
    retain_freed_memory()


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def default_jobs() -> int:
    """Worker processes of a benchmark: one per core, at most 4 (each holds a case: about 3 GB on the bench strip)."""
    return max(1, min(os.cpu_count() or 1, 4))


def run_bench(
    cases: Sequence[CaseBuilder],
    outdir: str | os.PathLike,
    *,
    suite: str,
    models: Sequence[Method] = (),
    command: str = "",
    overwrite: bool = False,
    progress: bool = True,
    inputs: Sequence[str] = (),
    reads_curves: bool = True,
    cds: bool = True,
    jobs: int | None = None,
) -> list[CaseResult]:
    """Evaluate classical methods (with the oracle where known) and ``models`` on every case.

    ``inputs`` (the user's darks and scene) are files and folders the outputs must not touch;
    ``reads_curves`` and ``cds`` can be turned off to save time (bench-v2). The cases run in
    ``jobs`` worker processes (default :func:`default_jobs`), each building and measuring whole
    batches (the seeds of a built-in family share its calibration; a user's dark is a batch of its
    own). The results and figures do not depend on ``jobs``.
    """
    start, commit = time.perf_counter(), source_commit()  # the code this run imports, whatever changes after
    retain_freed_memory()  # each case makes and frees arrays of hundreds of MB
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be at least 1")
    folder = OutputFolder(outdir, inputs=inputs, overwrite=overwrite)
    outdir = folder.path
    methods = classical_methods(cds=cds, extra=EXTRA_CLASSICAL_FITS.get(suite_family(suite))) + list(models)
    reads_list = READS_LIST if reads_curves else ()
    first_of_group: dict[str, str] = {}  # the case of each group that gets the figures
    batches: dict[str, list[CaseBuilder]] = {}
    for builder in cases:
        first_of_group.setdefault(builder.group, builder.name)
        batches.setdefault(builder.batch, []).append(builder)
    draw = set(first_of_group.values())
    folder.claim([*REPORT_FILES, *(f"{name}_{figure}.png" for name in sorted(draw) for figure in FIGURES)])
    jobs = min(default_jobs() if jobs is None else jobs, len(batches))
    parallel = jobs > 1 and _picklable((methods, [c.build for c in cases]))
    bar = tqdm(total=len(cases), desc="bench", unit="case", disable=not progress)
    if parallel:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        level = logging.getLogger().getEffectiveLevel()
        measured: dict[str, tuple[list[CaseResult], list[str]]] = {}
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                                               initargs=(level, threads)) as pool:
            done = manager.Queue()  # each case measured, as the workers finish it: the bar moves case by case
            pending = {pool.submit(_measure, members, methods, outdir, reads_list=reads_list, draw=draw,
                                   done=done): key for key, members in batches.items()}
            try:
                waiting = set(pending)
                while waiting:
                    finished, waiting = wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)
                    _drain(done, bar)
                    for future in finished:
                        measured[pending[future]] = future.result()
            except BaseException:  # a failed case or an interruption: start nothing more
                for future in pending:
                    future.cancel()
                raise
        outcomes = [measured[key] for key in batches]
    else:
        outcomes = []
        for builder in cases:
            outcomes.append(_measure([builder], methods, outdir, reads_list=reads_list, draw=draw))
            bar.update(1)
    bar.close()
    order = {builder.name: index for index, builder in enumerate(cases)}
    results = sorted((result for found, _ in outcomes for result in found), key=lambda r: order[r.name])
    figures = [figure for _, drawn in outcomes for figure in drawn]
    write_report(results, outdir, suite=suite, figures=figures, command=command, seconds=time.perf_counter() - start,
                 models=tuple(m.name for m in models), commit=commit)
    return results
