"""ERR on skies that are not flat: the read-noise scale (RNSCALE) and std((SCI - truth) / ERR) on the faint half of
the pixels, for the reference-corrected fit and for the same ramp without correlated noise (oracle), on a sky
gradient, an imaging field and a flat sky (20 e- over the ramp), jwst-h2rg (512 rows, 10 reads) and nirps-h4rg
(264 rows, 30 reads), white and nirspec noise. A calibrated ERR gives RNSCALE near 1 and a spread of 1.

    python benchmarks/err_on_gradients.py
"""

import numpy as np

from hxrg_denoiser.bench.photometry import err_calibration_by_level
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

for name, rows, reads in (("jwst-h2rg", 512, 10), ("nirps-h4rg", 264, 30)):
    g = preset(name, n_rows=rows)
    usable = ~g.reference_mask
    for kind in ("sky-gradient", "imaging", "flat"):
        scene = make_scene(kind, g, seed=7, flat_level=20.0)
        for noise in ("white", "nirspec"):
            cube, oracle = simulate_cube(g, reads, noise_preset(noise), scene=scene.image, seed=8, oracle=True)
            line = []
            for label, ramp, options in (("fit", cube, FitOptions(refcorr="seed", check_errors=True)),
                                         ("oracle", oracle, FitOptions(refcorr="none", check_errors=True))):
                image = fit_cube(ramp, g, options)
                faint, _ = err_calibration_by_level(image.sci, image.err, scene.image, usable,
                                                    faint_below=np.percentile(scene.image[usable], 50) + 1e-3,
                                                    bright_above=np.inf)
                scale = image.errors.read_noise_scale if image.errors else float("nan")
                line.append(f"{label} RNSCALE {scale:.2f} std faint {faint:.2f}")
            print(f"{name:10s} {kind:12s} {noise:7s} " + " | ".join(line), flush=True)
