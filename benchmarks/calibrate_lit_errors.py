"""Measure how much larger, and how much more correlated, the read noise left near light is than on the
dark pixels ERR is scaled on.

``--clean`` and flux-image models estimate the correlated noise from the
image's dark pixels; each dark pixel enters its own estimate and loses part
of its error, a pixel near light does not. ERR, scaled on the dark pixels
(``RNSCALE``), is then too small near light. This script measures the ratio
(:func:`hxrg_denoiser.bench.metrics.lit_over_dark_read_variance`) on
simulated exposures that no benchmark uses (echelle and star fields, both
bench noise presets, seeds 4101-4302), for reference-corrected UTR (which
should give 1), ``--clean`` and a model.

Where no dark pixel was read at the same time as a lit one, the correlated
noise is bridged from neighbouring readout times and the bridge's error is
shared by the rows it spans, so the errors of an aperture's rows are more
correlated than the dark pixels' ``RNCORRn`` say. The second figure is the
fraction of the input's correlated covariance that is so left
(``lit_covariance_fraction``, giving ``RNLCORn``): the value, on a grid of
0.01, for which the extracted spectra of the echelle exposures have the
spread of error / propagated error closest to 1 (least squares over the
exposures, each with the ratio applied). Either can be written into a
model's JSON::

    python benchmarks/calibrate_lit_errors.py [--model default] [--write path/to/model.json]

The values for ``--clean`` are ``classical.cleaning.LIT_READ_SCALE`` and
``LIT_COVARIANCE_FRACTION``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hxrg_denoiser.bench.extraction import extract_orders, extraction_errors
from hxrg_denoiser.bench.metrics import lit_over_dark_read_variance
from hxrg_denoiser.bench.runner import FitMemo, classical_methods, model_method
from hxrg_denoiser.bench.suite import BenchCase, build_case, check_training_seed
from hxrg_denoiser.classical.error_model import input_covariance
from hxrg_denoiser.classical.noise_correlation import light_free_pixels, near_light_correlation
from hxrg_denoiser.io.product import FluxImage

CASES = [("nirspec", 4101, "echelle"), ("h4rg-lab", 4201, "echelle"), ("nirspec", 4102, "echelle"),
         ("h4rg-lab", 4202, "echelle"), ("nirspec", 4103, "echelle"), ("h4rg-lab", 4203, "echelle"),
         ("h4rg-lab", 4301, "stars"), ("nirspec", 4302, "stars")]
FRACTIONS = np.round(np.arange(0.0, 1.001, 0.01), 2)
MEASURED = ("utr_ref_seed_clean", "model")  # the methods that remove correlated noise from the image


def spectrum_spreads(image: FluxImage, case, covariance: list[float] | None) -> np.ndarray:
    """std(error / propagated error) of the case's extracted spectra for each of ``FRACTIONS``."""
    g, orders = case.geometry, case.scene.orders
    rho = image.errors.read_noise_correlation if image.errors else None
    if not rho or not covariance:
        return np.full(FRACTIONS.size, np.nan)
    usable = ~g.reference_mask & (image.dq == 0) & np.isfinite(image.sci)
    near_light = usable & ~light_free_pixels(image.sci, usable)
    typical = float(np.median(image.var_rnoise[near_light]))
    error = extract_orders(image.sci, orders, g) - extract_orders(case.scene.image, orders, g)
    spreads = []
    for fraction in FRACTIONS:
        correlation = near_light_correlation(rho, covariance, float(fraction), typical)
        z = error / extraction_errors(image.err, orders, g, var_rnoise=image.var_rnoise, rho=correlation)
        spreads.append(float(np.std(z[np.isfinite(z)])))
    return np.array(spreads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model to measure (shipped name, file or run folder)")
    parser.add_argument("--write", type=Path,
                        help="model JSON to write the measured lit_read_scale and lit_covariance_fraction into")
    parser.add_argument("--rows", type=int, default=264)
    args = parser.parse_args()
    methods = {m.name: m for m in classical_methods()}
    measured = {"utr_ref_seed": methods["utr_ref_seed"], "utr_ref_seed_clean": methods["utr_ref_seed_clean"],
                "model": model_method(args.model)}
    ratios: dict[str, list[float]] = {name: [] for name in measured}
    spreads: dict[str, list[np.ndarray]] = {name: [] for name in MEASURED}
    start = time.perf_counter()
    for noise, seed, scene in CASES:
        check_training_seed(seed)  # not a benchmark seed
        case = build_case(BenchCase(f"{scene}-{noise}-{seed}", noise, seed, scene=scene), n_rows=args.rows)
        memo = FitMemo()
        oracle = methods["oracle"].run(case.oracle, case.geometry, fit=memo)
        row = []
        covariance: list[float] | None = None
        for name, method in measured.items():
            image = method.run(case.ramp, case.geometry, fit=memo)
            usable = ~case.geometry.reference_mask & (image.dq == 0)
            ratio = lit_over_dark_read_variance(image.sci, image.var_rnoise, oracle.sci, oracle.var_rnoise,
                                                case.scene.image, usable, (image.errors.read_noise_lit_scale if image.errors else 1.0))
            ratios[name].append(ratio)
            row.append(f"{name} {ratio:.3f}")
            if name == "utr_ref_seed":  # the input both other methods start from
                covariance = input_covariance(image.sci, image.var_poisson, image.var_rnoise, image.dq,
                                              case.geometry)
            elif case.scene.orders:
                spreads[name].append(spectrum_spreads(image, case, covariance))
                row.append(f"spectra {spreads[name][-1][0]:.3f} (fraction 0)")
        print(f"{case.name}: " + ", ".join(row), flush=True)
    summary = {name: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
               for name, v in ratios.items()}
    fractions = {}
    for name, per_case in spreads.items():
        table = np.array(per_case)
        best = int(np.nanargmin(np.nansum((table - 1.0) ** 2, axis=0)))
        fractions[name] = {"fraction": float(FRACTIONS[best]),
                           "spectra at it": [round(float(v), 3) for v in table[:, best]],
                           "spectra at 0": [round(float(v), 3) for v in table[:, 0]]}
    print(json.dumps({"model": args.model, "ratios": summary, "lit_covariance_fraction": fractions,
                      "seconds": round(time.perf_counter() - start, 1)}, indent=2))
    if args.write:
        spec = json.loads(args.write.read_text())
        spec["lit_read_scale"] = round(summary["model"]["mean"], 3)
        spec["lit_covariance_fraction"] = fractions["model"]["fraction"]
        args.write.write_text(json.dumps(spec, indent=2) + "\n")
        print(f"wrote lit_read_scale = {spec['lit_read_scale']} and lit_covariance_fraction = "
              f"{spec['lit_covariance_fraction']} into {args.write}")


if __name__ == "__main__":
    main()
