"""Benchmark: `--weighting optimal` up the ramp against stcal's LIKELY ramp fitting (Brandt 2024).

The same simulated cube for both (white read noise 6 e-, Poisson noise of a scene spanning 0-3000 e- over
the ramp, optionally cosmic rays); errors against the true flux in e- per frame; wall time of the fit
(single process, fastest of --repeat runs). hxrg's fit also runs its jump detection; stcal's LIKELY finds
jumps itself.

    python benchmarks/bench_optimal_vs_likely.py [--rows 128] [--cols 1024] [--reads 20] [--rate 0]

Needs stcal (`pip install -e .[test]`).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from comparison_json import write_comparison

from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.noise import NoiseModel
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.stats import robust_sigma

FLAGS = {"GOOD": 0, "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 524288,
         "UNRELIABLE_SLOPE": 16777216, "PERSISTENCE": 32, "CHARGELOSS": 128, "REFERENCE_PIXEL": 2147483648}


def likely_fit(cube: np.ndarray, read_noise: float) -> tuple[np.ndarray, np.ndarray, float]:
    """stcal LIKELY: slope per frame, its error, seconds."""
    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData

    shape = cube.shape[1:]
    start = time.perf_counter()
    ramp = RampData()
    ramp.set_arrays(cube[None].astype(np.float32), np.zeros((1,) + cube.shape, np.uint8),
                    np.zeros(shape, np.uint32), np.zeros(shape, np.float32))
    ramp.set_meta(name="NIRSPEC", frame_time=1.0, group_time=1.0, groupgap=0, nframes=1, drop_frames1=None)
    ramp.read_pattern = [[k + 1] for k in range(cube.shape[0])]
    ramp.set_dqflags(FLAGS)
    image, _, _ = ramp_fit_data(ramp, False, np.full(shape, read_noise, np.float32), np.ones(shape, np.float32),
                                "LIKELY", "optimal", "none")
    seconds = time.perf_counter() - start
    slope, err = (image["slope"], image["err"]) if isinstance(image, dict) else (image[0], image[4])
    return slope, err, seconds


def summary(name: str, slope, err, truth, seconds) -> dict:
    error = slope - truth
    finite = np.isfinite(error)
    return {"method": name, "rms (e-/frame)": float(np.sqrt(np.mean(error[finite] ** 2))),
            "robust sigma": float(robust_sigma(error[finite])), "bias": float(np.mean(error[finite])),
            "std(error/ERR)": float(np.std(error[finite] / err[finite])), "seconds": round(seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--cols", type=int, default=1024)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.0, help="cosmic rays per cm^2 per s")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each method; the fastest is reported "
                        "(the first pays for imports and tables)")
    parser.add_argument("--json", help="also write the figures and a run record to this JSON file (the "
                        "documentation's tables: docs/results/)")
    args = parser.parse_args()
    started = time.perf_counter()
    geometry = ReadoutGeometry("bench", args.rows, args.cols, 4, ref_border=0)
    rng = np.random.default_rng(args.seed)
    scene = (10 ** rng.uniform(0, np.log10(3000), geometry.shape)).astype(np.float32)  # e- over the ramp
    cube = simulate_cube(geometry, args.reads, NoiseModel(white=6.0, cosmic_ray_rate=args.rate), scene=scene,
                         seed=args.seed)
    truth = scene / args.reads
    rows = []
    for weighting in ("ols", "optimal"):
        seconds = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            image = fit_cube(cube, geometry, FitOptions(refcorr="none", read_noise=6.0, weighting=weighting))
            seconds.append(time.perf_counter() - start)
        rows.append(summary(f"hxrg utr --weighting {weighting}", image.sci / args.reads, image.err / args.reads,
                            truth, min(seconds)))
    runs = [likely_fit(cube, 6.0) for _ in range(args.repeat)]
    slope, err, _ = runs[-1]
    seconds = min(run[2] for run in runs)
    rows.append(summary("stcal LIKELY", slope, err, truth, seconds))
    ratio = rows[1]["rms (e-/frame)"] / rows[2]["rms (e-/frame)"]
    document = {"cube": [args.reads, args.rows, args.cols], "rate": args.rate,
                      "optimal rms / LIKELY rms": ratio, "LIKELY time / optimal time": rows[2]["seconds"] / rows[1]["seconds"],
                      "results": rows}
    print(json.dumps(document, indent=2))
    if args.json:
        write_comparison(args.json, "Optimal weights against stcal's LIKELY", document, started)


if __name__ == "__main__":
    main()
