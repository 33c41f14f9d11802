"""Ramps with a reset anomaly, hot pixels and dark current: what --dark and --first-read auto take out.

A NIRPS-like strip (nirps-h4rg, 128 rows, 60 reads, nirspec noise levels) of one detector (detector
seed 7): a start transient of 35 e- mean amplitude (per channel 0.3-1.7x, tau 0.7-1.7 reads), 0.2 %
hot pixels (mean 0.5 e-/s), dark current 0.005 e-/s. A superdark of 8 dark ramps of that detector is
made with `hxrg superdark`'s function. For an echelle and a star field, each method's
median error over the faintest half of the pixels (the reset bias), pixel RMS, raw and
background-subtracted spectrum RMS (echelle) or raw and annulus photometry RMS (stars), against the
scene (electrons over the ramp; dark current is not scene).

    python benchmarks/detector_effects.py            # seeds 11 and 12
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.bench.extraction import spectral_metrics
from hxrg_denoiser.bench.photometry import photometry_errors
from hxrg_denoiser.classical.superdark import write_superdark
from hxrg_denoiser.denoise import denoise_ramp
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models import load_model
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

N_READS, N_DARKS = 60, 8
g = preset("nirps-h4rg", n_rows=128)
noise = noise_preset("nirspec").replace(reset_anomaly=35.0, reset_tau=1.2, hot_pixel_fraction=0.002,
                                         hot_pixel_current=0.5, dark_current=0.005, detector_seed=7)
model, spec = load_model("default")
seeds = [int(s) for s in sys.argv[1:]] or [11, 12]

with tempfile.TemporaryDirectory() as tmp:
    darks = []
    for k in range(N_DARKS):
        path = Path(tmp) / f"dark{k}.fits"
        fits.PrimaryHDU(simulate_cube(g, N_READS, noise, seed=900 + k)).writeto(path)
        darks.append(str(path))
    superdark = str(Path(tmp) / "superdark.fits")
    write_superdark(darks, superdark)
    usable = ~g.reference_mask
    for seed in seeds:
        for kind in ("echelle", "stars-moffat"):
            scene = make_scene(kind, g, seed=seed, p99=30.0, flat_level=10.0)
            cube = simulate_cube(g, N_READS, noise, scene=scene.image, seed=seed)
            images = {
                "utr": fit_cube(cube, g, FitOptions(refcorr="none")),
                "utr_ref_seed": fit_cube(cube, g, FitOptions(refcorr="seed")),
                "utr_ref_seed --first-read auto": fit_cube(cube, g, FitOptions(refcorr="seed", first_read="auto")),
                "utr_ref_seed --dark": fit_cube(cube, g, FitOptions(refcorr="seed", dark=superdark)),
                "utr_ref_seed_clean --dark": fit_cube(cube, g, FitOptions(refcorr="seed", clean=True, dark=superdark)),
                "default --first-read 0": denoise_ramp(ArrayRamp(cube), model, spec, g, first_read=0),
                "default (auto)": denoise_ramp(ArrayRamp(cube), model, spec, g),
                "default --dark": denoise_ramp(ArrayRamp(cube), model, spec, g, dark=superdark),
            }
            faint = usable & (scene.image <= np.percentile(scene.image[usable], 50))
            print(f"== seed {seed}, {kind}")
            for name, im in images.items():
                error = im.sci - scene.image
                rms = float(np.sqrt(np.nanmean(error[usable] ** 2)))
                first = im.provenance.fit.first_read if im.provenance.fit else "-"
                line = (f"{name:32s} first read {first!s:>2}  faint median {np.nanmedian(error[faint]):+6.2f}  "
                        f"pixel RMS {rms:6.2f}")
                if scene.orders:
                    sm = spectral_metrics(im.sci, scene.image, scene.orders, g)
                    line += f"  spectrum raw {sm.spectrum_rms_box7:7.2f} bgsub {sm.spectrum_rms_bgsub:6.2f}"
                if scene.sources is not None:
                    ph = photometry_errors(im.sci, scene.image, scene.sources, g, min_flux=100)
                    line += f"  phot raw {ph.raw_rms:7.1f} annulus {ph.local_rms:6.1f} (n={ph.n})"
                print(line, flush=True)
