"""Benchmark: `hxrg fit --method utr --refcorr seed` on a full 4096 x 4096 x 100-read ramp.

Writes the ramp as 100 per-read uint16 FITS files (as laboratory darks come),
then runs the command under ``/usr/bin/time -v`` and reports wall time and
peak resident memory. Target (issue 2): <= 60 s and <= 2 GB on 2 CPU cores.

    python benchmarks/bench_fit_fullframe.py [--workdir DIR] [--reads 100] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from timing import time_command
from tqdm import tqdm


def write_ramp(folder: Path, n_reads: int, size: int, seed: int = 0) -> None:
    """Per-read uint16 files: bias + accumulated flux + white noise (enough to exercise every code path)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bias = rng.normal(10000.0, 300.0, (size, size)).astype(np.float32)
    flux = rng.exponential(0.5, (size, size)).astype(np.float32)
    for k in tqdm(range(n_reads), desc="writing reads", unit="read"):
        read = bias + (k + 1) * flux + rng.standard_normal((size, size), dtype=np.float32) * 6.0
        hdu = fits.PrimaryHDU(np.clip(read, 0, 65535).astype(np.uint16))
        hdu.writeto(folder / f"read_{k:03d}.fits", overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to write the ramp (default: a temporary folder)")
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--keep", action="store_true", help="keep the ramp and output")
    parser.add_argument("--strip-rows", type=int, default=128)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hxrg-bench-"))
    reads = workdir / "reads"
    if not reads.is_dir() or len(list(reads.glob("*.fits"))) != args.reads:
        write_ramp(reads, args.reads, args.size)
    output = workdir / "utr_ref_seed.fits"
    hxrg = shutil.which("hxrg") or sys.exit("hxrg is not on PATH: install the package first")
    geometry = ["--geometry", "nirps-h4rg"] if args.size == 4096 else ["--channels", "32"]
    command = [hxrg, "fit", str(reads), "-o", str(output), "--method", "utr", "--refcorr", "seed",
               "--overwrite", "-q", "--strip-rows", str(args.strip_rows), *geometry]
    timing = time_command(command)
    report = {"reads": args.reads, "size": args.size, "command": " ".join(command[1:]), **timing}
    print(json.dumps(report, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
