"""Benchmark: hxrg's jump detection + up-the-ramp fit against stcal's two-point difference + OLS_C ramp fit.

Both get the same simulated cube (white read noise + Poisson on a random scene, cosmic rays from the
project's simulator at ``--rate`` hits/cm^2/s, no correlated noise, so both noise models are right) and
the same threshold. Reports, for each: the fraction of pixels hit by a jump above 10 sigma that are
flagged, false flags per pixel (pixels flagged with no deposit), agreement of the flagged pixels, RMS
and robust sigma of (slope - truth) over all pixels and over hit pixels, std((slope - truth) / ERR),
and wall time of detection + fit (single process).

    python benchmarks/bench_jumps_vs_stcal.py [--rows 256] [--cols 2048] [--reads 30] [--threshold 5]

Needs stcal (`pip install -e .[test]`).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from comparison_json import write_comparison

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.noise import NoiseModel
from hxrg_denoiser.simulate.ramp import simulate_cube
from hxrg_denoiser.stats import robust_sigma

FLAGS = {"GOOD": 0, "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 524288,
         "UNRELIABLE_SLOPE": 16777216, "PERSISTENCE": 32, "CHARGELOSS": 128, "REFERENCE_PIXEL": 2147483648}


def stcal_jumps_and_fit(cube: np.ndarray, read_noise: float, threshold: float, neighbours: bool):
    """stcal: two-point difference jumps, then OLS_C ramp fitting; slope per frame, its error, jump pixels."""
    from stcal.jump.jump import detect_jumps_data
    from stcal.jump.jump_class import JumpData
    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData

    shape = cube.shape[1:]
    start = time.perf_counter()
    jump = JumpData(gain2d=np.ones(shape, np.float32), rnoise2d=np.full(shape, read_noise, np.float32), dqflags=FLAGS)
    jump.data = cube[None].astype(np.float32)
    jump.gdq = np.zeros(jump.data.shape, np.uint8)
    jump.pdq = np.zeros(shape, np.uint32)
    jump.nframes = 1
    jump.dt_group = np.ones(1)
    jump.n_reads_groupdiff = np.ones(1) * 2
    jump.rejection_thresh = jump.four_grp_thresh = jump.three_grp_thresh = threshold
    jump.flag_4_neighbors = neighbours
    jump.max_cores = "none"  # one process, as ours
    gdq, _, _, _ = detect_jumps_data(jump)[:4]
    ramp = RampData()
    ramp.set_arrays(cube[None].astype(np.float32), gdq, np.zeros(shape, np.uint32), np.zeros(shape, np.float32))
    ramp.set_meta(name="NIRSPEC", frame_time=1.0, group_time=1.0, groupgap=0, nframes=1, drop_frames1=None)
    ramp.algorithm = "OLS_C"
    ramp.set_dqflags(FLAGS)
    image, _, _ = ramp_fit_data(ramp, False, np.full(shape, read_noise, np.float32), np.ones(shape, np.float32),
                                "OLS_C", "optimal", "none")
    seconds = time.perf_counter() - start
    slope, _, var_poisson, var_rnoise, err = image[:5] if not isinstance(image, dict) else (
        image["slope"], None, image["var_poisson"], image["var_rnoise"], image["err"])
    jumped = (gdq[0] & FLAGS["JUMP_DET"]).any(axis=0)
    return slope, err, jumped, seconds


def summarise(name, slope, err, jumped, truth, big, deposit_any, seconds):
    error = slope - truth
    hit = big & np.isfinite(slope)
    return {
        "method": name,
        "found >10 sigma": float((jumped & big).sum() / big.sum()),
        "false flags per pixel": float((jumped & ~deposit_any).mean()),
        "pixels flagged": int(jumped.sum()),
        "rms all (e-/frame)": float(np.sqrt(np.nanmean(error**2))),
        "robust sigma all": float(robust_sigma(error[np.isfinite(error)])),
        "rms hit pixels": float(np.sqrt(np.nanmean(error[hit] ** 2))),
        "std(error/ERR) all": float(np.nanstd(error / err)),
        "std(error/ERR) hit": float(np.nanstd(error[hit] / err[hit])),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=2048)
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument("--threshold", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="cosmic rays per cm^2 per s")
    parser.add_argument("--neighbours", action="store_true")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", help="also write the figures and a run record to this JSON file (the "
                        "documentation's tables: docs/results/)")
    args = parser.parse_args()
    started = time.perf_counter()

    geometry = ReadoutGeometry("bench", args.rows, args.cols, 4, ref_border=0)
    rng = np.random.default_rng(args.seed)
    scene = rng.exponential(150.0, geometry.shape).astype(np.float32)  # e- over the ramp
    noise = NoiseModel(white=6.0)
    hit = simulate_cube(geometry, args.reads, noise.replace(cosmic_ray_rate=args.rate), scene=scene, seed=args.seed)
    clean = simulate_cube(geometry, args.reads, noise, scene=scene, seed=args.seed)
    jump_sizes = np.diff(hit - clean, axis=0)
    truth = scene / args.reads  # e- per frame
    big = (jump_sizes > 10 * np.sqrt(2 * 6.0**2 + truth)).any(axis=0)
    deposit_any = (jump_sizes > 0.5).any(axis=0)

    rows = []
    for weighting in ("ols", "optimal"):
        start = time.perf_counter()
        ours = fit_cube(hit, geometry, FitOptions(refcorr="none", read_noise=6.0, weighting=weighting,
                                                  jump_threshold=args.threshold, jump_neighbours=args.neighbours))
        seconds = time.perf_counter() - start
        ours_jumped = (ours.dq & PixelFlag.JUMP_DET) > 0
        rows.append(summarise(f"hxrg utr --weighting {weighting} + jumps", ours.sci / args.reads,
                              ours.err / args.reads, ours_jumped, truth, big, deposit_any, seconds))
    slope, err, jumped, seconds = stcal_jumps_and_fit(hit, 6.0, args.threshold, args.neighbours)
    rows.append(summarise("stcal jump + OLS_C", slope, err, jumped, truth, big, deposit_any, seconds))
    union = (ours_jumped | jumped).sum()
    agreement = float((ours_jumped & jumped).sum() / union) if union else 1.0
    document = {"cube": [args.reads, args.rows, args.cols], "threshold": args.threshold,
                      "pixels with a >10 sigma jump": int(big.sum()), "flag agreement (intersection/union)": agreement,
                      "results": rows}
    print(json.dumps(document, indent=2))
    if args.json:
        write_comparison(args.json, "Jumps and the ramp fit against stcal", document, started)


if __name__ == "__main__":
    main()
