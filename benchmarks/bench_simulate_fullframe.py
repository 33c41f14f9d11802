"""Benchmark: simulate a full 4096 x 4096 x 100-read dark written as per-read FITS files.

Runs ``hxrg simulate dark --geometry nirps-h4rg --reads 100 --noise h4rg-lab
--format reads`` under ``/usr/bin/time -v`` and reports wall time and peak
resident memory. Target (issue 3): <= 5 min and <= 2 GB on 2 CPU cores.

    python benchmarks/bench_simulate_fullframe.py [--workdir DIR] [--reads 100] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from timing import time_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to write the dark (default: a temporary folder)")
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--rows", type=int, help="simulate a strip instead of the full 4096 rows")
    parser.add_argument("--dtype", default="uint16", choices=("uint16", "float32"))
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hxrg-bench-sim-"))
    hxrg = shutil.which("hxrg") or sys.exit("hxrg is not on PATH: install the package first")
    command = [hxrg, "simulate", "dark", "--geometry", "nirps-h4rg", "--reads", str(args.reads), "--noise", "h4rg-lab",
               "--format", "reads", "--dtype", args.dtype, "--seed", "1", "-o", str(workdir / "dark"), "--overwrite", "-q"]
    if args.rows:
        command += ["--rows", str(args.rows)]
    timing = time_command(command)
    print(json.dumps({"reads": args.reads, "command": " ".join(command[1:]), **timing}, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
