"""Benchmark: `hxrg denoise` on a full 4096 x 4096 x 100-read ramp (per-read FITS).

Writes the ramp as in bench_fit_fullframe.py if needed and, without
--model, a payeur2022 model with random weights (timing does not depend on
the weights), then runs the command under /usr/bin/time -v. The reference
TensorFlow code takes 98 min as written and 5.9 min batched, with 13.3 GB.
Targets: payeur2022 (issue 4) at least 2x faster than 5.9 min, <= 4 GB; the
shipped default model (issue 6, `--model default`) <= 60 s.

    python benchmarks/bench_denoise_fullframe.py --workdir DIR [--model default] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench_fit_fullframe import write_ramp
from timing import time_command

from hxrg_denoiser.geometry import preset
from hxrg_denoiser.models import ModelSpec, Payeur2022Config, build_model, save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="where the ramp is (or will be written)")
    parser.add_argument("--model", help="trained model (default: random payeur2022 weights)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--batch-rows", type=int, default=16, help="ribbon models (payeur2022) only")
    parser.add_argument("--strip-rows", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    reads = args.workdir / "reads"
    if not reads.is_dir() or len(list(reads.glob("*.fits"))) != 100:
        write_ramp(reads, 100, 4096)
    model = args.model
    if model is None:
        geometry = preset("nirps-h4rg")
        spec = ModelSpec("payeur2022", Payeur2022Config().to_dict(), geometry.to_dict(), n_reads=98, label_reads=100,
                         name="payeur2022-random")
        model = str(save_model(args.workdir / "payeur2022-random.safetensors", build_model(spec), spec))
    hxrg = shutil.which("hxrg") or sys.exit("hxrg is not on PATH: install the package first")
    output = args.workdir / f"denoised-{Path(model).stem}-{args.precision}.fits"
    from hxrg_denoiser.denoise import load_denoiser

    ribbons = load_denoiser(model).input_kind == "ribbons"  # --batch-rows is theirs alone
    command = [hxrg, "denoise", str(reads), "--model", model, "-o", str(output), "--geometry", "nirps-h4rg",
               "--precision", args.precision, *(["--batch-rows", str(args.batch_rows)] if ribbons else []),
               "--strip-rows", str(args.strip_rows), "--device", args.device, "--overwrite", "-q"]
    print(json.dumps({"command": " ".join(command[1:]), **time_command(command)}, indent=2))


if __name__ == "__main__":
    main()
