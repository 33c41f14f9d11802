"""Imaging on a JWST-like strip (jwst-h2rg, 256 rows, 10 reads, nirspec noise): does a method keep a sky
gradient across the amplifiers? Pixel RMS, each amplifier's mean error, std(error / ERR) on faint pixels
and aperture photometry, for the classical methods, --clean with and without --keep-background, the
oracle and the shipped model.

    python benchmarks/keep_background.py
"""

import numpy as np

from hxrg_denoiser.bench.photometry import channel_mean_errors, err_calibration_by_level, photometry_errors
from hxrg_denoiser.denoise import denoise_ramp
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models import load_model
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

g = preset("jwst-h2rg", n_rows=256)
model, spec = load_model("default")
for kind in ("sky-gradient", "imaging"):
    scene = make_scene(kind, g, seed=7, flat_level=150.0)
    cube, oracle = simulate_cube(g, 10, noise_preset("nirspec"), scene=scene.image, seed=8, oracle=True)
    usable = ~g.reference_mask
    images = {name: fit_cube(cube, g, FitOptions(refcorr=r, clean=c)) for name, r, c in
              (("utr", "none", False), ("utr_ref_seed", "seed", False), ("utr_ref_seed_clean", "seed", True))}
    images["utr_ref_seed_clean_keepbkg"] = fit_cube(cube, g, FitOptions(refcorr="seed", clean=True, keep_background=True))
    images["oracle"] = fit_cube(oracle, g, FitOptions(refcorr="none"))
    images["default"] = denoise_ramp(ArrayRamp(cube), model, spec, g, any_layout=True)
    print(f"== {kind}: true channel means {np.round(channel_mean_errors(scene.image, scene.image, g).truth, 1)}")
    for name, im in images.items():
        means = channel_mean_errors(im.sci, scene.image, g)
        rms = float(np.sqrt(np.nanmean((im.sci - scene.image)[usable] ** 2)))
        faint, bright = err_calibration_by_level(im.sci, im.err, scene.image, usable, faint_below=np.percentile(scene.image[usable], 50), bright_above=1e3)
        line = f"{name:20s} pixel RMS {rms:7.2f}  channel mean errors {np.round(means.errors, 2)}  std(e/ERR) faint {faint:.2f}"
        if scene.sources is not None:
            ph = photometry_errors(im.sci, scene.image, scene.sources, g, min_flux=300)
            line += f"  phot raw {ph.raw_rms:7.1f} local {ph.local_rms:6.1f} (n={ph.n})"
        print(line)
