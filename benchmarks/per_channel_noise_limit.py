"""What keeps the background-subtracted spectra of h4rg-lab noise above 1.05x the oracle's.

bench-v2's h4rg-lab family misses its target (background-subtracted spectrum
error <= 1.05x the oracle's) with every method. This script measures, on
h4rg-lab exposures that no benchmark uses (echelle scene, seeds 4201-4203 by
default), two things:

1. the shipped model and ``--clean`` with the per-channel 1/f noise of the
   preset (``uncorrelated_pink``, 3 e- per read, independent between
   channels) scaled to 0, 0.5 and 1 of its level, everything else unchanged;
2. ``--clean`` with its per-channel drift taken as the running mean over 3
   to 257 rows of readout time (``clean_flux_image(drift="mean",
   channel_rows=...)``, the estimate of earlier versions; 15 was their
   default, 257 removes nothing once the baseline is taken out) instead of
   kriged (the default).

If the first column falls to about 1.01-1.02 without the per-channel 1/f and
no window of the second reaches 1.05, what is left is that noise's part that
changes between a trace and its side bands: no other channel shares it, and
while an order crosses a channel's rows few of its pixels are dark::

    python benchmarks/per_channel_noise_limit.py [--seeds 4201 4202 4203] [--model default]
"""

from __future__ import annotations

import argparse
import time

from hxrg_denoiser.bench.extraction import spectral_metrics
from hxrg_denoiser.bench.runner import FitMemo
from hxrg_denoiser.bench.suite import BENCH_SEEDS, BenchCase, build_case
from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.fitting import FitOptions
from hxrg_denoiser.models.readout_set_image import denoise_flux_image
from hxrg_denoiser.models.registry import load_model
from hxrg_denoiser.simulate.noise import noise_preset

SCALES = (0.0, 0.5, 1.0)
CHANNEL_ROWS = (3, 9, 15, 41, 257)


def measure(seed: int, per_channel: float, network, spec, windows: tuple[int, ...]):
    """Background-subtracted spectrum error over the oracle's: the model, ``--clean``, ``--clean`` per window."""
    case = build_case(BenchCase(f"h4rg-lab-{seed}", "h4rg-lab", seed,
                                noise_changes=(("uncorrelated_pink", per_channel),)))
    g, memo = case.geometry, FitMemo()

    def bgsub(image) -> float:
        return spectral_metrics(image, case.scene.image, case.scene.orders, g).spectrum_rms_bgsub

    oracle = bgsub(memo(case.oracle, g, FitOptions(refcorr="none")).sci)
    plain = memo(case.ramp, g, FitOptions(refcorr="seed")).sci
    given = memo(case.ramp, g, FitOptions(refcorr="seed", reference_check=True))
    model = bgsub(denoise_flux_image(given.sci, g, network, correction_window=spec.correction_window))
    clean = bgsub(clean_flux_image(plain, g))
    windowed = [bgsub(clean_flux_image(plain, g, drift="mean", channel_rows=rows)) / oracle for rows in windows]
    return model / oracle, clean / oracle, windowed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[4201, 4202, 4203])
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    if any(seed in BENCH_SEEDS for seed in args.seeds):
        parser.error("the benchmark's own seeds are not for this")
    network, spec = load_model(args.model)
    level = noise_preset("h4rg-lab").uncorrelated_pink
    start = time.perf_counter()
    print("background-subtracted spectrum error over the oracle's, h4rg-lab echelle; last columns: --clean with "
          f"its per-channel drift the running mean over {', '.join(map(str, CHANNEL_ROWS))} rows")
    for seed in args.seeds:
        for scale in SCALES:
            windows = CHANNEL_ROWS if scale == 1.0 else ()
            model, clean, windowed = measure(seed, level * scale, network, spec, windows)
            line = f"seed {seed}, per-channel 1/f {level * scale:.1f} e-: model {model:.3f}, --clean {clean:.3f}"
            if windowed:
                line += ", windows " + " ".join(f"{value:.3f}" for value in windowed)
            print(line, flush=True)
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
