"""Does a method keep the sky? Smooth skies, imaging and a picture frame on a JWST-like strip (jwst-h2rg, 4
amplifiers, 256 rows, 10 reads, nirspec noise) and on a NIRPS strip (nirps-h4rg, 264 rows, 30 reads, h4rg-lab
noise): pixel RMS, faint-pixel RMS (truth below its median), each amplifier's mean error against the truth
(the largest difference between two channels' errors, and that over the true sky difference between them),
std(error / ERR) on faint and bright pixels and aperture photometry, for the reference-corrected fit, the
cleaning and the shipped model with the background kept (the default) and without (``--no-keep-background``),
and the oracle (the same ramp without correlated noise). BKGKEPT: the share of the background found that was
kept, from segments of the ramp.

    python benchmarks/keep_background.py
"""

import dataclasses

import numpy as np

from hxrg_denoiser.bench.photometry import channel_mean_errors, err_calibration_by_level, photometry_errors
from hxrg_denoiser.denoise import DenoiseSettings, denoise_ramp
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models import load_model
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

model, spec = load_model("default")
FRAME = dict(picture_frame=3.0, picture_frame_shape="linear", picture_frame_ref_gain=0.0)
CASES = [  # geometry, rows, reads, noise, scene, sky level (e- over the ramp), noise changes
    ("jwst-h2rg", 256, 10, "nirspec", "sky-gradient", 150.0, {}),
    ("jwst-h2rg", 256, 10, "nirspec", "sky-gradient", 20.0, {}),
    ("jwst-h2rg", 256, 10, "nirspec", "imaging", 50.0, {}),
    ("jwst-h2rg", 256, 10, "nirspec", "flat", 20.0, FRAME),
    ("jwst-h2rg", 256, 10, "nirspec", "sky-gradient", 20.0, FRAME),
    ("nirps-h4rg", 264, 30, "h4rg-lab", "imaging", 30.0, {}),
]


def number(value, width, digits=2):
    return f"{'-':>{width}s}" if value is None or not np.isfinite(value) else f"{value:{width}.{digits}f}"


def kept_share(image):
    record = image.model if image.model is not None else image.provenance.fit
    share = getattr(record, "background_kept", None)
    return "-" if share is None else f"{share:.2f}"


for name, rows, reads, noise_name, kind, level, changes in CASES:
    g = preset(name, n_rows=rows)
    scene = make_scene(kind, g, seed=7, flat_level=level)
    noise = dataclasses.replace(noise_preset(noise_name), **changes)
    cube, oracle = simulate_cube(g, reads, noise, scene=scene.image, seed=8, oracle=True)
    usable = ~g.reference_mask
    faint = usable & (scene.image <= np.median(scene.image[usable]))
    images = {"utr_ref_seed": fit_cube(cube, g, FitOptions(refcorr="seed")),
              "utr_ref_seed_clean": fit_cube(cube, g, FitOptions(refcorr="seed", clean=True)),
              "utr_ref_seed_clean_nobkg": fit_cube(cube, g, FitOptions(refcorr="seed", clean=True,
                                                                        keep_background=False)),
              "default": denoise_ramp(ArrayRamp(cube), model, spec, g, any_layout=True),
              "default_nobkg": denoise_ramp(ArrayRamp(cube), model, spec, g, DenoiseSettings(keep_background=False),
                                            any_layout=True),
              "oracle": fit_cube(oracle, g, FitOptions(refcorr="none"))}
    truth_means = channel_mean_errors(scene.image, scene.image, g).truth
    sky_step = float(np.abs(np.diff(truth_means)).max())
    print(f"\n== {name} {rows} rows, {reads} reads, {noise_name}{' + picture frame' if changes else ''}: {kind}, "
          f"sky {level:g} e-; true channel means {np.round(truth_means, 1)}")
    print(f"{'method':26s} {'pixRMS':>7s} {'faint':>7s} {'chan':>6s} {'/step':>6s} {'zfaint':>6s} {'zbright':>7s} "
          f"{'kept':>5s} {'phot raw':>9s} {'annulus':>8s}")
    for method, im in images.items():
        errors = im.sci - scene.image
        means = channel_mean_errors(im.sci, scene.image, g).errors
        spread = float(np.ptp(means))
        z_faint, z_bright = err_calibration_by_level(im.sci, im.err, scene.image, usable,
                                                     faint_below=np.percentile(scene.image[usable], 50) + 1e-3,
                                                     bright_above=np.percentile(scene.image[usable], 99))
        line = (f"{method:26s} {np.sqrt(np.mean(errors[usable] ** 2)):7.2f} {np.sqrt(np.mean(errors[faint] ** 2)):7.2f} "
                f"{spread:6.2f} {number(spread / sky_step if sky_step > 0.5 else None, 6)} {number(z_faint, 6)} "
                f"{number(z_bright, 7)} {kept_share(im):>5s}")
        if scene.sources is not None:
            ph = photometry_errors(im.sci, scene.image, scene.sources, g, min_flux=300)
            line += f" {ph.raw_rms:9.1f} {ph.local_rms:8.1f}"
        print(line, flush=True)
