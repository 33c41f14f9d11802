"""ERR where the dark pixels hold scene: the read-noise scale measured on the dark pixels, on the ramp's halves,
and the truth, for the fit (reference-corrected, or plain with ``--refcorr none``) of the first seed of each
family of a suite (and the product's std((SCI - truth) / ERR) on the faint half of the pixels, which a
calibrated ERR puts at 1).

"true" is the scale that gives the fit's errors against the truth, less their median, unit spread on the
pixels the halves measure (photon variance under 3x the read variance). The product uses the halves' scale where the dark pixels' is over 1.25 and more
than 1.25 times the halves' (``RNSOURCE``).

    python benchmarks/err_from_halves.py [--refcorr seed|smoothed|none] [--suite bench-v3|bench-v2]
"""

import argparse
import dataclasses

import numpy as np

from hxrg_denoiser.bench.command import suite_cases
from hxrg_denoiser.bench.photometry import err_calibration_by_level
from hxrg_denoiser.classical.half_ramp_errors import half_ramp_statistics
from hxrg_denoiser.classical.noise_correlation import unit_spread_scale
from hxrg_denoiser.fitting import FitOptions, fit_ramp, half_ramp

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--refcorr", default="seed", choices=("seed", "smoothed", "none"))
parser.add_argument("--suite", default="bench-v3", choices=("bench-v2", "bench-v3"))
args = parser.parse_args()

print(f"| case, --refcorr {args.refcorr} | dark pixels | halves | true | RNSOURCE | std(error / ERR), faint |")
print("|---|---:|---:|---:|---|---:|")
seen = set()
for builder in suite_cases(args.suite):
    if builder.group in seen:
        continue
    seen.add(builder.group)
    case = builder.build()
    g, truth, usable = case.geometry, case.scene.image, ~case.geometry.reference_mask
    options = FitOptions(refcorr=args.refcorr)
    image = fit_ramp(case.ramp, g, options)
    # the dark pixels' own scale: the same fit without the halves' check
    original = half_ramp.worth_checking
    half_ramp.worth_checking = lambda *args, **kwargs: False
    try:
        dark = fit_ramp(case.ramp, g, options)
    finally:
        half_ramp.worth_checking = original
    n = case.ramp.n_reads
    plain = dataclasses.replace(options, check_errors=False)
    a, b = (fit_ramp(case.ramp, g, dataclasses.replace(plain, first_read=s, last_read=e))
            for s, e in ((0, n // 2 - 1), (n // 2, n - 1)))
    ok = usable & (a.dq == 0) & (b.dq == 0) & (dark.dq == 0)
    halves = half_ramp_statistics(a.sci, b.sci, a.var_rnoise + b.var_rnoise, a.var_poisson + b.var_poisson, ok)
    dark_scale = dark.errors.read_noise_scale
    unscaled = dark.var_rnoise / np.float32(dark_scale)
    # the pixels the halves measure: photon variance under 3x the read variance
    faint_ok = ok & np.isfinite(unscaled) & (a.var_poisson + b.var_poisson < 3 * (a.var_rnoise + b.var_rnoise))
    error = (dark.sci - truth)[faint_ok]
    error = error - np.median(error)
    true = unit_spread_scale(error**2 / unscaled[faint_ok], dark.var_poisson[faint_ok] / unscaled[faint_ok])
    faint, _ = err_calibration_by_level(image.sci, image.err, truth, usable,
                                        faint_below=np.percentile(truth[usable], 50) + 1e-3, bright_above=np.inf)
    print(f"| {case.name} | {dark_scale:.2f} | {halves.scale if halves else float('nan'):.2f} | "
          f"{true if true else float('nan'):.2f} | {image.errors.read_noise_source} | {faint:.2f} |", flush=True)
