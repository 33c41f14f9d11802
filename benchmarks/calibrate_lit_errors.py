"""Measure how much larger the read noise left near light is than on the dark pixels ERR is scaled on.

``--clean`` and flux-image models estimate the correlated noise from the
image's dark pixels; each dark pixel enters its own estimate and loses part
of its error, a pixel near light does not. ERR, scaled on the dark pixels
(``RNSCALE``), is then too small near light. This script measures the ratio
(:func:`hxrg_denoiser.bench.metrics.lit_over_dark_read_variance`) on
simulated exposures that no benchmark uses (echelle and star fields, both
bench noise presets, seeds 4101-4302), for reference-corrected UTR (which
should give 1), ``--clean`` and a model, and can write the model's value
into its JSON (``lit_read_scale``)::

    python benchmarks/calibrate_lit_errors.py [--model default] [--write path/to/model.json]

The value for ``--clean`` is ``classical.cleaning.LIT_READ_SCALE``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hxrg_denoiser.bench.metrics import lit_over_dark_read_variance
from hxrg_denoiser.bench.runner import FitMemo, classical_methods, model_method
from hxrg_denoiser.bench.suite import BenchCase, build_case, check_training_seed

CASES = [("nirspec", 4101, "echelle"), ("h4rg-lab", 4201, "echelle"), ("nirspec", 4102, "echelle"),
         ("h4rg-lab", 4202, "echelle"), ("h4rg-lab", 4301, "stars"), ("nirspec", 4302, "stars")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model to measure (shipped name, file or run folder)")
    parser.add_argument("--write", type=Path, help="model JSON to write the measured lit_read_scale into")
    parser.add_argument("--rows", type=int, default=264)
    args = parser.parse_args()
    methods = {m.name: m for m in classical_methods()}
    measured = {"utr_ref_seed": methods["utr_ref_seed"], "utr_ref_seed_clean": methods["utr_ref_seed_clean"],
                "model": model_method(args.model)}
    ratios: dict[str, list[float]] = {name: [] for name in measured}
    start = time.perf_counter()
    for noise, seed, scene in CASES:
        check_training_seed(seed)  # not a benchmark seed
        case = build_case(BenchCase(f"{scene}-{noise}-{seed}", noise, seed, scene=scene), n_rows=args.rows)
        memo = FitMemo()
        oracle = methods["oracle"].run(case.oracle, case.geometry, fit=memo)
        row = []
        for name, method in measured.items():
            image = method.run(case.ramp, case.geometry, fit=memo)
            usable = ~case.geometry.reference_mask & (image.dq == 0)
            ratio = lit_over_dark_read_variance(image.sci, image.var_rnoise, oracle.sci, oracle.var_rnoise,
                                                case.scene.image, usable, image.meta.get("read_noise_lit_scale", 1.0))
            ratios[name].append(ratio)
            row.append(f"{name} {ratio:.3f}")
        print(f"{case.name}: " + ", ".join(row), flush=True)
    summary = {name: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
               for name, v in ratios.items()}
    print(json.dumps({"model": args.model, "ratios": summary, "seconds": round(time.perf_counter() - start, 1)},
                     indent=2))
    if args.write:
        spec = json.loads(args.write.read_text())
        spec["lit_read_scale"] = round(summary["model"]["mean"], 3)
        args.write.write_text(json.dumps(spec, indent=2) + "\n")
        print(f"wrote lit_read_scale = {spec['lit_read_scale']} into {args.write}")


if __name__ == "__main__":
    main()
