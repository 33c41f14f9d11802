"""Where an ``hxrg`` command's CPU time goes: the thread CPU time of each stage of the data path.

Runs the command in this process with each listed function wrapped to add up the CPU time of the thread that
calls it (``time.thread_time``: exact under threads, unlike a sampling profiler's wall time), then prints the
stages, their calls and seconds. Run it with ``HXRG_THREADS=1 NUMBA_NUM_THREADS=1`` so that work split over
threads is counted in the stage that asked for it (the strip reader stays a thread of its own). A stage inside
another counts in both; a recursive call once.

    HXRG_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/cpu_by_stage.py fit RAMP -o OUT.fits --overwrite
"""

from __future__ import annotations

import atexit
import collections
import functools
import importlib
import sys
import threading
import time

STAGES = [  # (module, function or Class.method)
    ("hxrg_denoiser.io.ramps", "ReadFolderRamp.read_rows"),
    ("hxrg_denoiser.strips", "StripStream.load"),
    ("hxrg_denoiser.strips", "StripStream._check_finite"),
    ("hxrg_denoiser.strips", "StripStream._first_saturated"),
    ("hxrg_denoiser.strips", "StripStream.correct_with_offsets"),
    ("hxrg_denoiser.classical.ramp_fit", "fit_strip"),
    ("hxrg_denoiser.classical.ramp_fit", "slope_and_noise_terms"),
    ("hxrg_denoiser.classical.ramp_fit", "detect_jumps"),
    ("hxrg_denoiser.classical.ramp_fit", "_with_steps"),
    ("hxrg_denoiser.classical.step_test", "largest_steps"),
    ("hxrg_denoiser.classical.jumps", "extreme_residuals_in_blocks"),
    ("hxrg_denoiser.fitting.reads", "open_reads"),
    ("hxrg_denoiser.fitting.read_noise", "ramp_read_noise"),
    ("hxrg_denoiser.fitting.read_noise", "noise_band"),
    ("hxrg_denoiser.fitting.read_noise", "jump_test_noise"),
    ("hxrg_denoiser.fitting.reads", "uncorrected_read_offsets"),
    ("hxrg_denoiser.classical.error_model", "calibrated_errors"),
    ("hxrg_denoiser.classical.background", "scene_background"),
    ("hxrg_denoiser.classical.reference_check", "choose_reference_correction"),
    ("hxrg_denoiser.classical.cleaning", "clean_flux_image"),
    ("hxrg_denoiser.io.output", "write_flux_image"),
]

seconds: collections.Counter = collections.Counter()
calls: collections.Counter = collections.Counter()
_inside = threading.local()


def _wrap(module_name: str, qualified: str) -> None:
    """Replace ``module.qualified`` by a wrapper that adds its thread CPU time to ``seconds[qualified]``."""
    owner = importlib.import_module(module_name)
    *path, name = qualified.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        active = getattr(_inside, "stages", None)
        if active is None:
            active = _inside.stages = set()
        if qualified in active:  # a recursive call: counted once
            return original(*args, **kwargs)
        active.add(qualified)
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[qualified] += time.thread_time() - start
            calls[qualified] += 1
            active.discard(qualified)

    setattr(owner, name, timed)
    if not path:  # a function: also where other modules imported it by name
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("hxrg_denoiser") and getattr(module, name, None) is original:
                setattr(module, name, timed)


def main() -> None:
    started, cpu = time.perf_counter(), time.process_time()
    cli = importlib.import_module("hxrg_denoiser.cli.main")
    importlib.import_module("hxrg_denoiser.fitting.pipeline")
    imports = time.perf_counter() - started
    for module_name, qualified in STAGES:
        _wrap(module_name, qualified)

    def report() -> None:
        print(f"wall {time.perf_counter() - started:.2f} s, process CPU {time.process_time() - cpu:.2f} s, "
              f"imports {imports:.2f} s (wall)", file=sys.stderr)
        print("| stage | calls | thread CPU s |\n| --- | --- | --- |", file=sys.stderr)
        for stage, total in seconds.most_common():
            print(f"| {stage} | {calls[stage]} | {total:.2f} |", file=sys.stderr)

    atexit.register(report)
    sys.argv = ["hxrg", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
