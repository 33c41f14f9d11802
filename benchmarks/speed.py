"""Each command's time against the read floor: how long reading the files takes, and fit and denoise on them.

A dark ramp of per-read uint16 FITS files (nirps-h4rg, 100 reads; a quarter frame of 1056 rows, or the full
frame with --full) is simulated once into a folder, then, alternately and --repeat times, with the page
cache warm:

- the read floor: every file opened with astropy and summed (what any tool has to do);
- ``hxrg fit`` (UTR, reference correction, jumps, ERR);
- ``hxrg denoise`` (the shipped model, its reference check and error measurement).

Each is run under /usr/bin/time (wall seconds, peak memory); the table gives the median time and its ratio
to the read floor's. ``--json FILE`` also writes the figures with a run record (date, commit, machine), which
the documentation's build turns into its speed tables (``docs/results/speed-*.json``).

    python benchmarks/speed.py [--full] [--repeat 3] [--folder DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import time_command  # noqa: E402

READ_FLOOR = """
import sys, glob
import numpy as np
from astropy.io import fits
total = None
for path in sorted(glob.glob(sys.argv[1] + '/*.fits')):
    with fits.open(path, memmap=False) as hdul:
        data = hdul[0].data.astype(np.float32)
    total = data if total is None else total + data
print(float(total.mean()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full 4096-row frame (default: a quarter, 1056 rows)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", help="where the ramp is simulated (default: a temporary folder)")
    parser.add_argument("--json", help="also write the figures and a run record to this JSON file")
    args = parser.parse_args()
    if args.folder is not None and not Path(args.folder).is_dir():
        parser.error(f"--folder {args.folder}: no such folder")
    rows = 4096 if args.full else 1056
    started = time.perf_counter()
    hxrg = str(Path(sys.executable).with_name("hxrg"))
    with tempfile.TemporaryDirectory(dir=args.folder) as work:
        work_path = Path(work)
        subprocess.run([hxrg, "-q", "simulate", "dark", "--geometry", "nirps-h4rg", "--rows", str(rows), "--reads",
                        "100", "--noise", "h4rg-lab", "--format", "reads", "--dtype", "uint16", "--seed", "3",
                        "-o", str(work_path / "sim")], check=True)
        reads = str(work_path / "sim" / "reads")
        commands = {
            "read floor": [sys.executable, "-c", READ_FLOOR, reads],
            "hxrg fit": [hxrg, "-q", "fit", reads, "-o", str(work_path / "fit.fits"), "--overwrite",
                         "--geometry", "nirps-h4rg"],
            "hxrg denoise": [hxrg, "-q", "denoise", reads, "-o", str(work_path / "denoise.fits"), "--overwrite",
                             "--geometry", "nirps-h4rg"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        memory: dict[str, float] = {name: 0.0 for name in commands}
        time_command(commands["read floor"])  # the page cache filled
        for _ in range(args.repeat):
            for name, command in commands.items():
                result = time_command(command)
                times[name].append(result["wall_s"])
                memory[name] = max(memory[name], result["peak_rss_mb"])
    floor = statistics.median(times["read floor"])
    title = f"nirps-h4rg {rows} x 4096, 100 reads of uint16 FITS, {os.cpu_count()} CPUs, median of {args.repeat}"
    rows_out = [{"command": name, "wall_s": round(statistics.median(times[name]), 2),
                 "x_read_floor": round(statistics.median(times[name]) / floor, 2),
                 "peak_mb": round(memory[name])} for name in commands]
    print(title)
    print("| command | wall s | x read floor | peak MB |")
    print("| --- | --- | --- | --- |")
    for row in rows_out:
        print(f"| {row['command']} | {row['wall_s']:.1f} | {row['x_read_floor']:.1f} | {row['peak_mb']:.0f} |")
    if args.json:
        from hxrg_denoiser.bench.report import run_record

        command = "python benchmarks/speed.py " + " ".join(sys.argv[1:])
        document = {"suite": "speed", "title": title, "rows": rows_out,
                    "run": run_record(command, time.perf_counter() - started)}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
