"""Benchmark: `hxrg fit` of 8 strip-sized exposures on a local Dask cluster, 1 worker versus 2.

Simulates 8 science ramps of a NIRPS strip (264 x 4096, 100 reads, h4rg-lab)
as 3D cubes, then runs `hxrg fit DIR/*.fits -o OUT --method utr --refcorr seed
--workers N` for N = 1 and 2 (fresh output folder each time) and reports the
wall times and the speed-up.

    python benchmarks/bench_many_exposures.py [--workdir DIR] [--exposures 8] [--rows 264]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import time_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--exposures", type=int, default=8)
    parser.add_argument("--rows", type=int, default=264)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hxrg-bench-many-"))
    hxrg = shutil.which("hxrg") or sys.exit("hxrg is not on PATH: install the package first")
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    for i in range(args.exposures):
        cube = inputs / f"exp{i:02d}.fits"
        if not cube.exists():
            sim = workdir / f"sim{i:02d}"
            subprocess.run([hxrg, "simulate", "science", "--rows", str(args.rows), "--reads", "100", "--seed",
                            str(500 + i), "-o", str(sim), "-q", "--overwrite"], check=True, capture_output=True)
            (sim / "cube.fits").rename(cube)
            shutil.rmtree(sim)
    report = {"exposures": args.exposures, "rows": args.rows}
    for workers in (1, 2):
        out = workdir / f"out-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        command = [hxrg, "fit", str(inputs / "*.fits"), "-o", str(out), "--method", "utr", "--refcorr", "seed",
                   "--geometry", "nirps-h4rg", "--workers", str(workers), "-q"]
        timing = time_command(command)
        report[f"workers_{workers}"] = {"wall_s": timing["wall_s"], "summary": timing["stdout"]}
    report["speed_up"] = round(report["workers_1"]["wall_s"] / report["workers_2"]["wall_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
