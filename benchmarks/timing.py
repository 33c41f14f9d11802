"""Shared helper of the benchmark scripts: run a command under /usr/bin/time -v."""

from __future__ import annotations

import re
import subprocess
import sys


def time_command(command: list[str]) -> dict:
    """Run ``command`` under ``/usr/bin/time -v``; return wall and CPU seconds, peak RSS (MB) and its stdout."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"benchmark command failed:\n{result.stdout}\n{result.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", result.stderr).group(1)) for kind in ("User", "System"))
    return {"wall_s": hours * 3600 + minutes * 60 + seconds, "cpu_s": cpu, "peak_rss_mb": rss_kb / 1024,
            "stdout": result.stdout.strip()}
