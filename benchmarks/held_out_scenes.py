"""Scenes and seeds that neither bench-v3 nor the correction-evidence threshold was chosen on: the reference-corrected
fit, `--clean` with and without what it keeps of the scene, and `default`, by pixel RMS and raw and annulus
aperture photometry (or raw and background-subtracted spectra), against the truth.

    python benchmarks/held_out_scenes.py            # about 4 minutes on two cores

Seeds 7771-7772 are used by no suite and no recipe.
"""

import numpy as np

from hxrg_denoiser.bench.extraction import spectral_metrics
from hxrg_denoiser.bench.photometry import photometry_errors
from hxrg_denoiser.denoise.api import denoise_ramp
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models.registry import load_model
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

CASES = (  # geometry, rows, reads, scene, noise
    ("nirps-h4rg", 264, 40, "imaging-crowded", "nirspec"),
    ("jwst-h2rg", 256, 20, "galaxies", "h4rg-lab"),
    ("jwst-h2rg", 256, 20, "nebula", "nirspec"),
    ("h2rg-32", 256, 30, "stars-crowded", "nirspec"),
    ("nirps-h4rg", 264, 40, "long-slit", "h4rg-lab"),
    ("nirps-h4rg", 264, 40, "echelle-gradient", "nirspec"),
)


def measures(image, scene, geometry):
    science = ~geometry.reference_mask
    text = f"pixel {np.sqrt(np.nanmean((image - scene.image)[science] ** 2)):7.3f}"
    if scene.sources is not None:
        found = photometry_errors(image, scene.image, scene.sources, geometry, usable=np.isfinite(image))
        text += f"  phot raw {found.raw_rms:7.1f} annulus {found.local_rms:7.1f}"
    if scene.orders:
        found = spectral_metrics(image, scene.image, scene.orders, geometry)
        text += f"  spectrum raw {found.spectrum_rms_box7:6.2f} bgsub {found.spectrum_rms_bgsub:6.2f}"
    return text


def main() -> None:
    network, spec = load_model("default")
    for name, rows, reads, kind, noise in CASES:
        for seed in (7771, 7772):
            geometry = preset(name, n_rows=rows)
            scene = make_scene(kind, geometry, seed=seed)
            ramp = ArrayRamp(simulate_cube(geometry, reads, noise_preset(noise), scene=scene.image, seed=seed), kind)
            print(f"== {kind} on {name}, {noise}, {reads} reads, seed {seed}")
            for label, options in (("utr_ref_seed", FitOptions(refcorr="seed")),
                                   ("--clean", FitOptions(refcorr="seed", clean=True)),
                                   ("--clean --no-keep-background", FitOptions(refcorr="seed", clean=True,
                                                                               keep_background=False))):
                print(f"  {label:30s} {measures(fit_ramp(ramp, geometry, options).sci, scene, geometry)}")
            image = denoise_ramp(ramp, network, spec, geometry, any_layout=True)
            print(f"  {'default':30s} {measures(image.sci, scene, geometry)}", flush=True)


if __name__ == "__main__":
    main()
