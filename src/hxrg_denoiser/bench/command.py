"""The benchmark as one call: build cases, run methods, write metrics, report and figures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from hxrg_denoiser.bench.report import case_figures, write_report
from hxrg_denoiser.bench.runner import CaseResult, Method, classical_methods, evaluate_case
from hxrg_denoiser.bench.suite import SUITES, CaseData, build_case
from hxrg_denoiser.errors import OutputError, UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.output import prepare_output_folder
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.simulate.injection import InjectedRamp
from hxrg_denoiser.simulate.scenes import load_scene

__all__ = ["run_bench", "suite_cases", "user_case"]


def suite_cases(suite: str, *, n_rows: int | None = None, n_reads: int | None = None) -> list[tuple[str, Callable[[], CaseData]]]:
    """Named builders of the cases of a built-in suite."""
    if suite not in SUITES:
        raise UsageError(f"--suite {suite!r}: unknown suite; choose one of {sorted(SUITES)}")
    extra = {k: v for k, v in (("n_rows", n_rows), ("n_reads", n_reads)) if v is not None}
    return [(case.name, lambda case=case: build_case(case, **extra)) for case in SUITES[suite]]


def user_case(darks: str | os.PathLike, scene_path: str | os.PathLike, geometry_of, *, seed: int = 0, gain: float = 1.0):
    """A case from a user's dark ramp plus a true scene (Poisson accumulation on top of the darks).

    The dark and the scene are checked at once (readable, shapes that match), before any output is made.
    """
    with open_ramp(darks) as dark:
        load_scene(scene_path, geometry_of((dark.n_rows, dark.n_cols), str(darks)))

    def build() -> CaseData:
        dark = open_ramp(darks)
        geometry: ReadoutGeometry = geometry_of((dark.n_rows, dark.n_cols), str(darks))
        scene = load_scene(scene_path, geometry)
        ramp = InjectedRamp(dark, scene.image, seed=seed, gain=gain)
        return CaseData("user", "user", geometry, ramp, None, scene)

    return [("user", build)]


def run_bench(
    cases: list[tuple[str, Callable[[], CaseData]]],
    outdir: str | os.PathLike,
    *,
    suite: str,
    models: list[Method] = (),
    command: str = "",
    overwrite: bool = False,
    progress: bool = True,
    inputs: list[str] = (),
) -> list[CaseResult]:
    """Evaluate classical methods (with the oracle where known) and ``models`` on every case.

    ``inputs`` (the user's darks and scene) are files and folders the outputs must not touch.
    """
    start = time.perf_counter()
    outdir = Path(outdir)
    if (outdir / "metrics.json").exists() and not overwrite:
        raise OutputError(f"{outdir}: holds a benchmark already; pass --overwrite to replace it")
    prepare_output_folder(outdir, inputs=inputs)
    methods = classical_methods() + list(models)
    results, figures, drawn = [], [], set()
    for name, build in tqdm(cases, desc="bench", unit="case", disable=not progress):
        case = build()
        group = name.rsplit("-s", 1)[0] if case.family == "echelle" else name
        draw = group not in drawn
        result = evaluate_case(case, methods, keep_images=draw)
        if draw:
            figures += case_figures(result, case, outdir)
            drawn.add(group)
        result.images = {}
        results.append(result)
        case.ramp.close()
    write_report(results, outdir, suite=suite, figures=figures, command=command, seconds=time.perf_counter() - start)
    return results
